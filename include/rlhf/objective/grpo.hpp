// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// GRPO group-normalised advantages over k samples per prompt.
#include <cmath>
#include <vector>

#include "rlhf/core/math.hpp"
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

/// The fixed point of GRPO as published on a one-step problem (a bandit prompt), in expectation:
/// the policy π at which the expected update of GRPO's loss vanishes,
///   π(a) A(a) = β (π(a) - π_ref(a))  for every action a,
/// with A(a) = (r(a) - μ_π) / (σ_π + ε) the group-normalised advantage in the large-group limit
/// (μ_π, σ_π the mean and standard deviation of r under π; scale_by_std = false uses σ = 1) and
/// the right side the expected gradient of GRPO's k3 loss term, E_π[∇ k3] = ∇ KL(π_ref ‖ π)
/// (ALGORITHMS.md §3). Because of the division by σ_π and the reversed KL this is not the
/// closed form π* of KL-regularised reward maximisation; the bandit oracle reports how far apart
/// they are and checks GRPO against this point. Solved by iterating the expected update on the
/// logits to a residual below 1e-13.
/// @return (V) log-probabilities of the fixed point.
/// @throws rlhf::invalid_argument on β ≤ 0, a size mismatch or an empty row; rlhf::numerical_error
///         when the iteration does not converge.
inline std::vector<double> grpo_stationary_point(real_span ref_log_probs, real_span rewards, double beta,
                                                 const grpo_options& options = {}) {
  options.validate();
  RLHF_EXPECTS(std::isfinite(beta) && beta > 0, "rlhf::grpo_stationary_point: beta = ", beta, " must be > 0");
  RLHF_EXPECTS(!ref_log_probs.empty() && rewards.size() == ref_log_probs.size(),
               "rlhf::grpo_stationary_point: ", ref_log_probs.size(), " reference log-probs and ", rewards.size(),
               " rewards; give one of each per action");
  detail::expect_finite(rewards, "rewards");
  detail::expect_finite(ref_log_probs, "ref_log_probs");
  const std::size_t n = rewards.size();
  std::vector<double> theta(n), p(n), g(n);
  for (std::size_t v = 0; v < n; ++v) theta[v] = ref_log_probs[v];
  for (long it = 0; it < 10'000'000; ++it) {
    const double lse = math::logsumexp(std::span<const double>(theta));
    double mu = 0.0, var = 0.0;
    for (std::size_t v = 0; v < n; ++v) {
      p[v] = std::exp(theta[v] - lse);
      mu += p[v] * rewards[v];
    }
    for (std::size_t v = 0; v < n; ++v) var += p[v] * (rewards[v] - mu) * (rewards[v] - mu);
    const double sigma = options.scale_by_std ? std::sqrt(var) + options.eps : 1.0;
    double residual = 0.0, a_max = 0.0;
    for (std::size_t v = 0; v < n; ++v) {
      const double a = (rewards[v] - mu) / sigma;
      a_max = std::max(a_max, std::abs(a));
      g[v] = p[v] * a - beta * (p[v] - std::exp(ref_log_probs[v]));
      residual = std::max(residual, std::abs(g[v]));
    }
    if (residual < 1e-13) {
      for (std::size_t v = 0; v < n; ++v) theta[v] -= lse;
      return theta;
    }
    // The expected update on the logits, with a step below the inverse of its Lipschitz bound.
    const double eta = 0.5 / (1.0 + beta + a_max);
    for (std::size_t v = 0; v < n; ++v) theta[v] += eta * g[v];
  }
  RLHF_THROW(numerical_error, "rlhf::grpo_stationary_point: the expected GRPO update did not converge; the "
             "rewards may be too large for the step (rescale them)");
}

}  // namespace rlhf
