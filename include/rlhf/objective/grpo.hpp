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
  /// ε > 0 added to the standard deviation, so a group of equal rewards gets advantages 0
  /// instead of 0/0 = NaN.
  double eps = 1e-4;

  /// @throws rlhf::invalid_argument unless ε is finite and > 0.
  void validate() const {
    RLHF_EXPECTS(std::isfinite(eps) && eps > 0.0, "rlhf::grpo_advantages: grpo_options.eps = ", eps,
                 " must be a finite number > 0 (it keeps a group of equal rewards at 0 instead of 0/0 = NaN); "
                 "the default is 1e-4");
  }
};

/// GRPO advantages (Shao et al. 2024, "DeepSeekMath", §4.1.2, outcome supervision;
/// ALGORITHMS.md §3): within each prompt's group of k samples, `A_i = (r_i - mean) / (std + ε)`,
/// with std the sample standard deviation (divisor k-1, as torch.std and TRL use). A group of
/// equal rewards gets exactly 0.
/// @param rewards (G·k) rewards grouped by prompt: group g is [g·k, (g+1)·k).
/// @param k       samples per prompt, ≥ 2.
/// @throws rlhf::invalid_argument if k < 2, the size is not a multiple of k, or ε is not a
///         finite number > 0; rlhf::numerical_error if a reward is not finite.
inline std::vector<double> grpo_advantages(real_span rewards, index_t k, const grpo_options& options = {}) {
  RLHF_EXPECTS(k >= 2, "rlhf::grpo_advantages: k = ", k, " samples per prompt; a group needs k >= 2");
  RLHF_EXPECTS(rewards.size() % static_cast<std::size_t>(k) == 0, "rlhf::grpo_advantages: ", rewards.size(),
               " rewards are not a whole number of groups of k = ", k);
  options.validate();
  detail::expect_finite(rewards, "grpo rewards");
  const auto kk = static_cast<std::size_t>(k);
  std::vector<double> adv(rewards.size());
  for (std::size_t g = 0; g < rewards.size(); g += kk) {
    // mean = r_0 + mean(r - r_0): exact for a group of equal rewards, whose advantages are then
    // exactly 0 rather than rounding noise divided by ε.
    const double first = rewards[g];
    double shifted = 0.0;
    for (std::size_t i = 0; i < kk; ++i) shifted += rewards[g + i] - first;
    const double mean = first + shifted / static_cast<double>(k);
    double ss = 0.0;
    for (std::size_t i = 0; i < kk; ++i) ss += (rewards[g + i] - mean) * (rewards[g + i] - mean);
    const double scale = options.scale_by_std ? 1.0 / (std::sqrt(ss / static_cast<double>(k - 1)) + options.eps) : 1.0;
    for (std::size_t i = 0; i < kk; ++i) adv[g + i] = (rewards[g + i] - mean) * scale;
  }
  return adv;
}

}  // namespace rlhf
