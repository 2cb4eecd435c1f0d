// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// PPO's clipped value (critic) loss with its gradient w.r.t. the predicted values.
#include <algorithm>
#include <cmath>

#include <xtensor/xtensor.hpp>

#include "rlhf/objective/detail/token_inputs.hpp"
#include "rlhf/objective/real_span.hpp"

namespace rlhf {

/// Value, gradient and statistics of the clipped value loss over a batch.
struct value_loss_result {
  double loss = 0.0;            ///< 1/N Σ_t ½ max((V-G)², (clip(V, V_old±ε_v) - G)²)
  xt::xtensor<double, 2> grad;  ///< (B, T) ∂ loss / ∂ V_t; 0 at padding
  double clip_fraction = 0.0;   ///< fraction of tokens where the clipped term is the larger
  double mean_abs_error = 0.0;  ///< mean_t |V_t - G_t|
  index_t tokens = 0;           ///< N
};

/// Clipped value loss of PPO as used for RLHF (Ziegler et al. 2019; the OpenAI baselines
/// `vf_clip`; ALGORITHMS.md §3): `L = 1/N Σ_t ½ max((V_t - G_t)², (clip(V_t, V_old,t - ε_v,
/// V_old,t + ε_v) - G_t)²)` over the N valid tokens.
///
/// Gradient: (V - G)/N where the unclipped term is at least as large; where the clipped term is
/// strictly larger, V lies outside [V_old - ε_v, V_old + ε_v] (inside, both terms are equal), the
/// clipped term does not depend on V, and the gradient is 0.
/// @param values     (B, T) V_t, the critic's current predictions.
/// @param old_values (B, T) V_old,t, the predictions when the batch was collected.
/// @param returns    (B, T) G_t, the targets (gae_result::returns).
/// @param lengths    (B) valid tokens per row.
/// @param clip_range ε_v > 0; +infinity disables clipping (plain ½ (V - G)²).
/// @throws rlhf::invalid_argument on shape mismatches, ε_v ≤ 0 or NaN, or no valid token;
///         rlhf::numerical_error for a non-finite input at a valid position.
inline value_loss_result clipped_value_loss(real_matrix values, real_matrix old_values, real_matrix returns,
                                            length_span lengths, double clip_range) {
  const detail::token_inputs in("rlhf::clipped_value_loss",
                                {{"values", values}, {"old_values", old_values}, {"returns", returns}}, lengths);
  RLHF_EXPECTS(clip_range > 0.0, "rlhf::clipped_value_loss: clip_range = ", clip_range,
               " must be > 0 (use infinity to disable clipping)");

  value_loss_result r;
  r.grad = in.zeros();
  r.tokens = in.tokens();
  const double inv_n = in.inverse_tokens();
  double sum = 0.0, clipped = 0.0, abs_err = 0.0;
  in.for_each([&](index_t b, index_t t, const auto& x) {
    const auto [v, vo, g] = x;
    const double vc = std::clamp(v, vo - clip_range, vo + clip_range);
    const double e1 = (v - g) * (v - g), e2 = (vc - g) * (vc - g);
    if (e2 > e1) {
      sum += 0.5 * e2;
      clipped += 1.0;
    } else {
      sum += 0.5 * e1;
      r.grad(b, t) = (v - g) * inv_n;
    }
    abs_err += std::abs(v - g);
  });
  r.loss = sum * inv_n;
  r.clip_fraction = clipped * inv_n;
  r.mean_abs_error = abs_err * inv_n;
  return r;
}

}  // namespace rlhf
