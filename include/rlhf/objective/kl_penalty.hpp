// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// PPO's per-token rewards: a KL penalty on every response token plus the sequence reward at
/// the last one.
#include <cmath>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "rlhf/objective/detail/token_inputs.hpp"
#include "rlhf/objective/kl_estimator.hpp"
#include "rlhf/objective/real_span.hpp"

namespace rlhf {

/// Per-token rewards and KL statistics of a batch of sampled responses.
struct kl_penalty_result {
  xt::xtensor<double, 2> rewards;   ///< (B, T) R_t; 0 at padding
  xt::xtensor<double, 2> kl;        ///< (B, T) k(ℓ_t); 0 at padding
  std::vector<double> sequence_kl;  ///< (B) Σ_t k(ℓ_t): the KL estimate of each response
  double mean_kl = 0.0;             ///< mean_b sequence_kl[b]: the batch KL a controller tracks
};

/// KL-penalised per-token rewards of PPO-based RLHF (Ziegler et al. 2019, eq. 2; Ouyang et al.
/// 2022, eq. 2; ALGORITHMS.md §3): `R_t = -β k(ℓ_t)` for every response token,
/// `ℓ_t = log π(a^t|…) - log π_ref(a^t|…)`, plus the reward-model score r(s, a) added at the
/// last token t = len - 1.
///
/// Layout: (B, T) response-aligned and right-padded: position t of row b is the t-th response
/// token when t < lengths[b]; later positions are padding and are neither read nor written
/// (outputs there are 0).
/// @param policy_logps    (B, T) log π of the sampled tokens.
/// @param reference_logps (B, T) log π_ref of the same tokens.
/// @param lengths         (B) response lengths, each in [1, T].
/// @param scores          (B) sequence rewards r(s, a).
/// @param beta            β ≥ 0 (0 turns the penalty off).
/// @throws rlhf::invalid_argument on shape mismatches, an empty response or β < 0;
///         rlhf::numerical_error for a non-finite score or log-probability at a valid position.
inline kl_penalty_result kl_penalized_rewards(real_matrix policy_logps, real_matrix reference_logps,
                                              length_span lengths, real_span scores, double beta,
                                              kl_estimator estimator = kl_estimator::k1) {
  const detail::token_inputs in("rlhf::kl_penalized_rewards",
                                {{"policy_logps", policy_logps}, {"reference_logps", reference_logps}}, lengths);
  const index_t rows = in.rows();
  detail::expect_size(scores, static_cast<std::size_t>(rows), "scores", "the batch (rows of policy_logps)");
  detail::expect_finite(scores, "scores");
  RLHF_EXPECTS(std::isfinite(beta) && beta >= 0.0, "rlhf::kl_penalized_rewards: beta = ", beta,
               " must be a finite number >= 0");
  in.expect_nonempty_rows("every sampled response needs at least one token to carry its reward");

  kl_penalty_result r;
  r.rewards = in.zeros();
  r.kl = in.zeros();
  r.sequence_kl.assign(static_cast<std::size_t>(rows), 0.0);
  in.for_each([&](index_t b, index_t t, const auto& x) {
    const double k = kl_estimate(estimator, x[0] - x[1]);
    r.kl(b, t) = k;
    r.rewards(b, t) = -beta * k;
    r.sequence_kl[static_cast<std::size_t>(b)] += k;
  });
  for (index_t b = 0; b < rows; ++b) {
    r.rewards(b, in.length(b) - 1) += scores[static_cast<std::size_t>(b)];
    r.mean_kl += r.sequence_kl[static_cast<std::size_t>(b)];
  }
  r.mean_kl /= static_cast<double>(rows == 0 ? 1 : rows);
  return r;
}

}  // namespace rlhf
