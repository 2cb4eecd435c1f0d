// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Forward KL, KL(π_ref ‖ π): mass-covering regularisation.
#include <cmath>
#include <limits>

#include "rlhf/objective/concepts.hpp"

namespace rlhf::divergences {

/// Forward Kullback–Leibler divergence KL(q ‖ p) = Σ q log(q/p), the f-divergence
/// D_f(p ‖ q) with f(u) = -log u, f′(u) = -1/u (Wang et al. 2023, Table 1; ALGORITHMS.md §4).
/// f′ is evaluated as -exp(-log u), exact for any finite log u (it saturates to -inf for
/// log u < -709, where the ratio itself is not representable).
struct forward_kl {
  using rlhf_concept = divergence_tag;

  /// f′(u) = -1/u = -exp(-log u).
  double f_prime_log(double log_u) const noexcept { return -std::exp(-log_u); }
  /// d f′ / d log u = 1/u = exp(-log u).
  double f_prime_log_grad(double log_u) const noexcept { return std::exp(-log_u); }

  /// Σ_v q_v (log q_v - log p_v); entries with q_v = 0 contribute 0, q_v > 0 = p_v gives +inf.
  double value(real_span logp, real_span logq) const {
    detail::expect_log_prob_rows(logp, logq, "rlhf::divergences::forward_kl");
    double s = 0.0;
    for (std::size_t v = 0; v < logp.size(); ++v) {
      if (logq[v] == -HUGE_VAL) continue;
      if (logp[v] == -HUGE_VAL) return std::numeric_limits<double>::infinity();
      s += std::exp(logq[v]) * (logq[v] - logp[v]);
    }
    return s;
  }
};
static_assert(divergence<forward_kl>);

}  // namespace rlhf::divergences
