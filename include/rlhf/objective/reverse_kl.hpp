// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Reverse KL, KL(π ‖ π_ref): the regulariser of standard RLHF and DPO.
#include <cmath>
#include <limits>

#include "rlhf/objective/concepts.hpp"

namespace rlhf::divergences {

/// Reverse Kullback–Leibler divergence KL(p ‖ q) = Σ p log(p/q), the f-divergence with
/// f(u) = u log u, f′(u) = log u + 1 (Wang et al. 2023, Table 1; ALGORITHMS.md §4).
/// With it, f-DPO is exactly DPO (Rafailov et al. 2023): the +1 cancels in f′(u_w) - f′(u_l).
struct reverse_kl {
  using rlhf_concept = divergence_tag;

  /// f′(u) = log u + 1.
  double f_prime_log(double log_u) const noexcept { return log_u + 1.0; }
  /// d f′ / d log u = 1.
  double f_prime_log_grad(double /*log_u*/) const noexcept { return 1.0; }

  /// Σ_v p_v (log p_v - log q_v); entries with p_v = 0 contribute 0, p_v > 0 = q_v gives +inf.
  double value(real_span logp, real_span logq) const {
    detail::expect_log_prob_rows(logp, logq, "rlhf::divergences::reverse_kl");
    double s = 0.0;
    for (std::size_t v = 0; v < logp.size(); ++v) {
      if (logp[v] == -HUGE_VAL) continue;
      if (logq[v] == -HUGE_VAL) return std::numeric_limits<double>::infinity();
      s += std::exp(logp[v]) * (logp[v] - logq[v]);
    }
    return s;
  }
};
static_assert(divergence<reverse_kl>);

}  // namespace rlhf::divergences
