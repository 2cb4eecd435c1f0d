// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The α-divergence family, with α chosen at run time (`--divergence alpha:A`).
#include <cmath>
#include <limits>

#include "rlhf/objective/concepts.hpp"

namespace rlhf::divergences {

/// α-divergence, the f-divergence with f(u) = (u^{1-α} - (1-α) u - α) / (α (α - 1)),
/// f′(u) = (1 - u^{-α}) / α (Wang et al. 2023, Table 1; ALGORITHMS.md §4). α → 0 approaches
/// reverse KL and α → 1 forward KL (up to the constant in f′, which cancels in f-DPO).
///
/// f′ is evaluated as -expm1(-α log u)/α, accurate near u = 1. Any α ∉ {0, 1} gives a convex f;
/// Wang et al. use α ∈ (0, 1).
class alpha {
 public:
  using rlhf_concept = divergence_tag;

  /// @throws rlhf::invalid_argument if α is not finite or is 0 or 1.
  explicit alpha(double a = 0.5) : alpha_(a) {
    RLHF_EXPECTS(std::isfinite(a) && a != 0.0 && a != 1.0, "rlhf::divergences::alpha: alpha = ", a,
                 " must be finite and differ from 0 and 1 (use reverse_kl / forward_kl for those limits)");
  }

  /// α, the order of the divergence.
  double order() const noexcept { return alpha_; }

  /// f′(u) = (1 - u^{-α}) / α.
  double f_prime_log(double log_u) const noexcept { return -std::expm1(-alpha_ * log_u) / alpha_; }
  /// d f′ / d log u = u^{-α}.
  double f_prime_log_grad(double log_u) const noexcept { return std::exp(-alpha_ * log_u); }

  /// Σ_v [p_v^{1-α} q_v^α - (1-α) p_v - α q_v] / (α (α - 1)); the per-entry form (rather than
  /// (Σ p^{1-α} q^α - 1)/(α(α-1))) keeps ∂ value / ∂ log p_v = p_v f′(p_v/q_v) exact for
  /// unnormalised rows too.
  double value(real_span logp, real_span logq) const {
    detail::expect_log_prob_rows(logp, logq, "rlhf::divergences::alpha");
    const double a = alpha_;
    double s = 0.0;
    for (std::size_t v = 0; v < logp.size(); ++v) {
      const bool p0 = logp[v] == -HUGE_VAL, q0 = logq[v] == -HUGE_VAL;
      if (p0 && q0) continue;
      // p^{1-α} q^α is 0 when one side is 0 and its exponent is positive, +inf when negative.
      double mixed;
      if (p0) mixed = (1.0 - a) > 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
      else if (q0) mixed = a > 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
      else mixed = std::exp((1.0 - a) * logp[v] + a * logq[v]);
      const double p = p0 ? 0.0 : std::exp(logp[v]);
      const double q = q0 ? 0.0 : std::exp(logq[v]);
      s += (mixed - (1.0 - a) * p - a * q) / (a * (a - 1.0));
    }
    return s;
  }

 private:
  double alpha_;
};
static_assert(divergence<alpha>);

}  // namespace rlhf::divergences
