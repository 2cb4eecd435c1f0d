// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// REINFORCE leave-one-out advantages over k samples per prompt.
#include <vector>

#include "rlhf/objective/real_span.hpp"

namespace rlhf {

/// RLOO advantages (Kool et al. 2019, "Buy 4 REINFORCE Samples, Get a Baseline for Free!";
/// Ahmadian et al. 2024, eq. 5; ALGORITHMS.md §3): each sample's baseline is the mean reward of
/// the other k-1 samples of its prompt, `A_i = r_i - 1/(k-1) Σ_{j≠i} r_j = k/(k-1) (r_i - mean)`.
/// The baseline does not depend on r_i, so the policy-gradient estimate stays unbiased.
/// @param rewards (G·k) sequence rewards grouped by prompt: group g is [g·k, (g+1)·k).
/// @param k       samples per prompt, ≥ 2.
/// @return (G·k) advantages in the same order.
/// @throws rlhf::invalid_argument if k < 2 or the size is not a multiple of k;
///         rlhf::numerical_error if a reward is not finite.
inline std::vector<double> rloo_advantages(real_span rewards, index_t k) {
  RLHF_EXPECTS(k >= 2, "rlhf::rloo_advantages: k = ", k, " samples per prompt; leave-one-out needs k >= 2");
  RLHF_EXPECTS(rewards.size() % static_cast<std::size_t>(k) == 0, "rlhf::rloo_advantages: ", rewards.size(),
               " rewards are not a whole number of groups of k = ", k);
  detail::expect_finite(rewards, "rloo rewards");
  const auto kk = static_cast<std::size_t>(k);
  std::vector<double> adv(rewards.size());
  for (std::size_t g = 0; g < rewards.size(); g += kk) {
    double sum = 0.0;
    for (std::size_t i = 0; i < kk; ++i) sum += rewards[g + i];
    for (std::size_t i = 0; i < kk; ++i)
      adv[g + i] = rewards[g + i] - (sum - rewards[g + i]) / static_cast<double>(k - 1);
  }
  return adv;
}

}  // namespace rlhf
