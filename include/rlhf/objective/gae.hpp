// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Generalised advantage estimation over right-padded per-token rewards and values.
#include <cmath>

#include <xtensor/xtensor.hpp>

#include "rlhf/objective/detail/token_inputs.hpp"
#include "rlhf/objective/real_span.hpp"

namespace rlhf {

/// Advantages and returns of a batch, (B, T) each, 0 at padding.
struct gae_result {
  xt::xtensor<double, 2> advantages;  ///< A_t
  xt::xtensor<double, 2> returns;     ///< G_t = A_t + V_t (the value-function target)
};

/// Generalised advantage estimation (Schulman et al. 2016, "High-Dimensional Continuous Control
/// Using GAE", eq. 16; ALGORITHMS.md §3): `δ_t = R_t + γ V_{t+1} - V_t`,
/// `A_t = Σ_l (γλ)^l δ_{t+l}`, `G_t = A_t + V_t`, by the backward recursion
/// `A_t = δ_t + γλ A_{t+1}`.
///
/// Each row is one episode that ends at its last token: V_{len} = 0 and A_{len} = 0 (a response
/// ends with EOS or the token budget; either way there is no reward after it).
/// @param rewards (B, T) per-token rewards R_t (see kl_penalized_rewards), response-aligned.
/// @param values  (B, T) critic values V_t.
/// @param lengths (B) valid tokens per row, in [0, T].
/// @param gamma   discount γ ∈ [0, 1].
/// @param lambda  GAE λ ∈ [0, 1]; λ = 1 gives Monte-Carlo returns minus V, λ = 0 one-step TD.
/// @throws rlhf::invalid_argument on shape mismatches or γ or λ outside [0, 1];
///         rlhf::numerical_error for a non-finite reward or value at a valid position.
inline gae_result gae(real_matrix rewards, real_matrix values, length_span lengths, double gamma,
                      double lambda) {
  const detail::token_inputs in("rlhf::gae", {{"rewards", rewards}, {"values", values}}, lengths);
  RLHF_EXPECTS(gamma >= 0.0 && gamma <= 1.0, "rlhf::gae: gamma = ", gamma, " is outside [0, 1]");
  RLHF_EXPECTS(lambda >= 0.0 && lambda <= 1.0, "rlhf::gae: lambda = ", lambda, " is outside [0, 1]");

  gae_result r;
  r.advantages = in.zeros();
  r.returns = in.zeros();
  // The recursion runs backwards from each row's end, so it walks the rows itself and reads
  // through at() (which checks the values) instead of for_each.
  for (index_t b = 0; b < in.rows(); ++b) {
    double next_value = 0.0, next_adv = 0.0;
    for (index_t t = in.length(b) - 1; t >= 0; --t) {
      const auto [rew, v] = in.at(b, t);
      const double delta = rew + gamma * next_value - v;
      const double adv = delta + gamma * lambda * next_adv;
      r.advantages(b, t) = adv;
      r.returns(b, t) = adv + v;
      next_value = v;
      next_adv = adv;
    }
  }
  return r;
}

}  // namespace rlhf
