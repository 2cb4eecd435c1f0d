// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// GRPO group-normalised advantages over k samples per prompt.
#include <cmath>
#include <vector>

#include "rlhf/objective/real_span.hpp"

namespace rlhf {

/// Options of rlhf::grpo_advantages.
struct grpo_options {
  /// Divide by the group's standard deviation (GRPO); false keeps r - mean (Dr. GRPO,
  /// Liu et al. 2025, which removes the per-question difficulty bias of the division).
  bool scale_by_std = true;
  /// Added to the standard deviation, so a group of equal rewards gets advantages 0.
  double eps = 1e-4;
};

/// GRPO advantages (Shao et al. 2024, "DeepSeekMath", §4.1.2, outcome supervision;
/// ALGORITHMS.md §3): within each prompt's group of k samples, `A_i = (r_i - mean) / (std + ε)`,
/// with std the sample standard deviation (divisor k-1, as torch.std and TRL use).
/// @param rewards (G·k) rewards grouped by prompt: group g is [g·k, (g+1)·k).
/// @param k       samples per prompt, ≥ 2.
/// @throws rlhf::invalid_argument if k < 2, the size is not a multiple of k, ε < 0, or a
///         reward is not finite.
inline std::vector<double> grpo_advantages(real_span rewards, index_t k, const grpo_options& options = {}) {
  RLHF_EXPECTS(k >= 2, "rlhf::grpo_advantages: k = ", k, " samples per prompt; a group needs k >= 2");
  RLHF_EXPECTS(rewards.size() % static_cast<std::size_t>(k) == 0, "rlhf::grpo_advantages: ", rewards.size(),
               " rewards are not a whole number of groups of k = ", k);
  RLHF_EXPECTS(std::isfinite(options.eps) && options.eps >= 0.0, "rlhf::grpo_advantages: eps = ", options.eps,
               " must be a finite number >= 0");
  detail::expect_finite(rewards, "grpo rewards");
  const auto kk = static_cast<std::size_t>(k);
  std::vector<double> adv(rewards.size());
  for (std::size_t g = 0; g < rewards.size(); g += kk) {
    double mean = 0.0;
    for (std::size_t i = 0; i < kk; ++i) mean += rewards[g + i];
    mean /= static_cast<double>(k);
    double ss = 0.0;
    for (std::size_t i = 0; i < kk; ++i) ss += (rewards[g + i] - mean) * (rewards[g + i] - mean);
    const double scale = options.scale_by_std ? 1.0 / (std::sqrt(ss / static_cast<double>(k - 1)) + options.eps) : 1.0;
    for (std::size_t i = 0; i < kk; ++i) adv[g + i] = (rewards[g + i] - mean) * scale;
  }
  return adv;
}

}  // namespace rlhf
