// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// PPO's per-token rewards: a KL penalty on every response token plus the sequence reward at
/// the last one.
#include <cmath>
#include <vector>

#include <xtensor/xtensor.hpp>

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
/// @throws rlhf::invalid_argument on shape mismatches, an empty response, β < 0, or a
///         non-finite input at a valid position.
inline kl_penalty_result kl_penalized_rewards(real_matrix policy_logps, real_matrix reference_logps,
                                              length_span lengths, real_span scores, double beta,
                                              kl_estimator estimator = kl_estimator::k1) {
  const index_t rows = policy_logps.rows(), cols = policy_logps.cols();
  detail::expect_matrix(reference_logps, rows, cols, "reference_logps");
  detail::expect_lengths(lengths, rows, cols);
  detail::expect_size(scores, static_cast<std::size_t>(rows), "scores", "the batch (rows of policy_logps)");
  detail::expect_finite(scores, "scores");
  RLHF_EXPECTS(std::isfinite(beta) && beta >= 0.0, "rlhf::kl_penalized_rewards: beta = ", beta,
               " must be a finite number >= 0");

  kl_penalty_result r;
  r.rewards = xt::zeros<double>({static_cast<std::size_t>(rows), static_cast<std::size_t>(cols)});
  r.kl = xt::zeros<double>({static_cast<std::size_t>(rows), static_cast<std::size_t>(cols)});
  r.sequence_kl.assign(static_cast<std::size_t>(rows), 0.0);
  for (index_t b = 0; b < rows; ++b) {
    const index_t len = lengths[static_cast<std::size_t>(b)];
    RLHF_EXPECTS(len >= 1, "rlhf::kl_penalized_rewards: lengths[", b,
                 "] = 0; every sampled response needs at least one token to carry its reward");
    double seq = 0.0;
    for (index_t t = 0; t < len; ++t) {
      const double lp = policy_logps(b, t), lr = reference_logps(b, t);
      RLHF_EXPECTS(std::isfinite(lp) && std::isfinite(lr), "rlhf::kl_penalized_rewards: log-prob at (", b,
                   ", ", t, ") is not finite (policy ", lp, ", reference ", lr, ")");
      const double k = kl_estimate(estimator, lp - lr);
      r.kl(b, t) = k;
      r.rewards(b, t) = -beta * k;
      seq += k;
    }
    r.rewards(b, len - 1) += scores[static_cast<std::size_t>(b)];
    r.sequence_kl[static_cast<std::size_t>(b)] = seq;
    r.mean_kl += seq;
  }
  r.mean_kl /= static_cast<double>(rows == 0 ? 1 : rows);
  return r;
}

}  // namespace rlhf
