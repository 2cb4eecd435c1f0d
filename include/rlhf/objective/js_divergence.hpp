// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Jensen–Shannon divergence as an f-divergence.
#include <cmath>
#include <numbers>

#include "rlhf/core/math.hpp"
#include "rlhf/objective/concepts.hpp"

namespace rlhf::divergences {

/// Jensen–Shannon divergence, the f-divergence with f(u) = u log u - (1+u) log((1+u)/2),
/// f′(u) = log(2u / (1+u)) (Wang et al. 2023, Table 1; ALGORITHMS.md §4).
///
/// In log space f′ = log 2 + log σ(log u) = log 2 - softplus(-log u), finite for every finite
/// log u and bounded above by log 2; f′(1) = 0. Its derivative is σ(-log u) = 1/(1+u).
/// `value` is D_f(p ‖ q) = Σ q f(p/q) = KL(p ‖ m) + KL(q ‖ m) with m = (p+q)/2, which is twice
/// the "½ KL + ½ KL" convention of the JSD; the f above fixes the scale, and with it f′.
struct js {
  using rlhf_concept = divergence_tag;

  double f_prime_log(double log_u) const noexcept { return std::numbers::ln2 - math::softplus(-log_u); }
  double f_prime_log_grad(double log_u) const noexcept { return math::sigmoid(-log_u); }

  /// Σ_v [p_v log(p_v/m_v) + q_v log(q_v/m_v)], m = (p+q)/2; always finite, at most 2 log 2.
  double value(real_span logp, real_span logq) const {
    detail::expect_log_prob_rows(logp, logq, "rlhf::divergences::js");
    double s = 0.0;
    for (std::size_t v = 0; v < logp.size(); ++v) {
      const double log_m = math::logaddexp(logp[v], logq[v]) - std::numbers::ln2;
      if (log_m == -HUGE_VAL) continue;
      if (logp[v] != -HUGE_VAL) s += std::exp(logp[v]) * (logp[v] - log_m);
      if (logq[v] != -HUGE_VAL) s += std::exp(logq[v]) * (logq[v] - log_m);
    }
    return s;
  }
};
static_assert(divergence<js>);

}  // namespace rlhf::divergences
