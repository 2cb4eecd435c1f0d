// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// PPO's clipped surrogate policy loss with its gradient w.r.t. the new log-probabilities.
#include <algorithm>
#include <cmath>

#include <xtensor/xtensor.hpp>

#include "rlhf/objective/detail/token_inputs.hpp"
#include "rlhf/objective/real_span.hpp"

namespace rlhf {

/// Value, gradient and statistics of the clipped surrogate over a batch.
struct ppo_clip_result {
  double loss = 0.0;              ///< -mean_t min(ρ_t A_t, clip(ρ_t, 1-ε, 1+ε) A_t)
  xt::xtensor<double, 2> grad;    ///< (B, T) ∂ loss / ∂ log π_new(a_t); 0 at padding
  double clip_fraction = 0.0;     ///< fraction of tokens where the clipped term is active (zero gradient)
  double approx_kl = 0.0;         ///< mean_t [(ρ_t - 1) - log ρ_t]: k3 estimate of KL(π_old ‖ π_new)
  double mean_ratio = 0.0;        ///< mean_t ρ_t
  index_t tokens = 0;             ///< N, the number of valid tokens the means run over
};

/// Clipped surrogate objective of PPO (Schulman et al. 2017, "Proximal Policy Optimization
/// Algorithms", eq. 7; ALGORITHMS.md §3), as a loss to minimise:
/// `ρ_t = exp(log π_new - log π_old)`, `L = -1/N Σ_t min(ρ_t A_t, clip(ρ_t, 1-ε, 1+ε) A_t)` over
/// the N valid tokens of the batch (a token-level mean, as TRL's masked_mean).
///
/// Gradient: when the unclipped term is the minimum, `∂L/∂log π_new = -ρ_t A_t / N`; when the
/// clipped term is strictly smaller (ρ > 1+ε with A > 0, or ρ < 1-ε with A < 0) the objective is
/// flat in ρ and the gradient is 0. Outside the clip range in the direction that would make
/// things worse (ρ > 1+ε with A < 0, ρ < 1-ε with A > 0) the gradient stays -ρA/N.
/// @param new_logps  (B, T) log π_new(a_t) (the policy being optimised).
/// @param old_logps  (B, T) log π_old(a_t) (the policy that sampled the batch).
/// @param advantages (B, T) A_t (usually whitened GAE advantages).
/// @param lengths    (B) valid tokens per row.
/// @param clip_eps   ε ∈ (0, 1).
/// @throws rlhf::invalid_argument on shape mismatches, ε outside (0, 1) or no valid token;
///         rlhf::numerical_error for a non-finite input at a valid position.
inline ppo_clip_result ppo_clip_loss(real_matrix new_logps, real_matrix old_logps, real_matrix advantages,
                                     length_span lengths, double clip_eps) {
  const detail::token_inputs in("rlhf::ppo_clip_loss",
                                {{"new_logps", new_logps}, {"old_logps", old_logps}, {"advantages", advantages}},
                                lengths);
  RLHF_EXPECTS(clip_eps > 0.0 && clip_eps < 1.0, "rlhf::ppo_clip_loss: clip_eps = ", clip_eps,
               " is outside (0, 1); PPO uses 0.1 to 0.3");

  ppo_clip_result r;
  r.grad = in.zeros();
  r.tokens = in.tokens();
  const double inv_n = in.inverse_tokens();
  double obj = 0.0, clipped = 0.0, kl = 0.0, ratio_sum = 0.0;
  in.for_each([&](index_t b, index_t t, const auto& x) {
    const auto [lnew, lold, a] = x;
    const double log_ratio = lnew - lold;
    const double rho = std::exp(log_ratio);
    const double unclipped = rho * a;
    const double clipped_term = std::clamp(rho, 1.0 - clip_eps, 1.0 + clip_eps) * a;
    if (clipped_term < unclipped) {  // the clip binds: flat in ρ
      obj += clipped_term;
      clipped += 1.0;
    } else {
      obj += unclipped;
      r.grad(b, t) = -rho * a * inv_n;
    }
    kl += std::expm1(log_ratio) - log_ratio;
    ratio_sum += rho;
  });
  r.loss = -obj * inv_n;
  r.clip_fraction = clipped * inv_n;
  r.approx_kl = kl * inv_n;
  r.mean_ratio = ratio_sum * inv_n;
  detail::expect_not_nan(r.loss, "rlhf::ppo_clip_loss: the loss");
  return r;
}

}  // namespace rlhf
