// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// A per-token KL penalty used as a loss term (GRPO), with its gradient w.r.t. the policy's
/// log-probabilities.
#include <cmath>

#include <xtensor/xtensor.hpp>

#include "rlhf/objective/detail/token_inputs.hpp"
#include "rlhf/objective/kl_estimator.hpp"
#include "rlhf/objective/real_span.hpp"

namespace rlhf {

/// Value, gradient and statistics of the in-loss KL term.
struct kl_loss_result {
  double loss = 0.0;            ///< β/N Σ_t k(ℓ_t)
  xt::xtensor<double, 2> grad;  ///< (B, T) ∂ loss / ∂ log π(a_t) = β k′(ℓ_t) / N; 0 at padding
  double mean_kl = 0.0;         ///< 1/N Σ_t k(ℓ_t) (the per-token KL estimate, without β)
  index_t tokens = 0;           ///< N
};

/// KL regulariser added to the policy loss instead of the reward (GRPO, Shao et al. 2024, eq. 3
/// and 4, which uses k3): `L_KL = β/N Σ_t k(ℓ_t)`, ℓ_t = log π(a_t) - log π_ref(a_t), over the N
/// valid tokens; the gradient w.r.t. log π(a_t) is β k′(ℓ_t)/N (π_ref is frozen).
/// Contrast kl_penalized_rewards, where the same estimate enters the reward (PPO, §3).
/// @param policy_logps    (B, T) log π of the sampled tokens (the policy being optimised).
/// @param reference_logps (B, T) log π_ref of the same tokens.
/// @param lengths         (B) valid tokens per row.
/// @param beta            β ≥ 0.
/// @throws rlhf::invalid_argument on shape mismatches, β < 0 or no valid token;
///         rlhf::numerical_error for a non-finite log-probability at a valid position.
inline kl_loss_result kl_loss(real_matrix policy_logps, real_matrix reference_logps, length_span lengths, double beta,
                              kl_estimator estimator = kl_estimator::k3) {
  const detail::token_inputs in("rlhf::kl_loss", {{"policy_logps", policy_logps}, {"reference_logps", reference_logps}},
                                lengths);
  RLHF_EXPECTS(std::isfinite(beta) && beta >= 0.0, "rlhf::kl_loss: beta = ", beta, " must be a finite number >= 0");
  kl_loss_result r;
  r.grad = in.zeros();
  r.tokens = in.tokens();
  const double inv_n = in.inverse_tokens();
  double sum = 0.0;
  in.for_each([&](index_t b, index_t t, const auto& x) {
    const double log_ratio = x[0] - x[1];
    sum += kl_estimate(estimator, log_ratio);
    r.grad(b, t) = beta * kl_estimate_grad(estimator, log_ratio) * inv_n;
  });
  r.mean_kl = sum * inv_n;
  r.loss = beta * r.mean_kl;
  return r;
}

}  // namespace rlhf
