// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// FaRMA's max-consistency loss L2 between a token reward and the best next-token reward.
#include <cmath>
#include <span>
#include <type_traits>
#include <vector>

#include "rlhf/objective/real_span.hpp"

namespace rlhf {

/// Which side of L2 receives gradient (the reference implementation trains both).
struct max_consistency_options {
  bool stop_gradient_reward = false;  ///< treat r_i as a constant (train only the max side)
  bool stop_gradient_max = false;     ///< treat max_v R_i[v] as a constant (a fixed target for r_i)
};

/// Value and gradients of L2. The gradient w.r.t. the (N, V) matrix R is sparse — one entry per
/// row, at the argmax — so it is returned as (argmax, grad_max) instead of a dense N×V buffer.
struct max_consistency_result {
  double loss = 0.0;                ///< ½ mean_i (r_i - max_v R_i[v])²
  std::vector<double> grad_reward;  ///< (N) ∂ loss / ∂ r_i
  std::vector<index_t> argmax;      ///< (N) the v attaining max_v R_i[v] (lowest index on ties)
  std::vector<double> grad_max;     ///< (N) ∂ loss / ∂ R_i[argmax_i]; every other entry of R has 0

  /// Adds the gradient w.r.t. R into a dense row-major (N, V) buffer (+=, the parameter-gradient
  /// convention), e.g. the gradient of a token reward head's outputs.
  /// @throws rlhf::invalid_argument if the buffer is not N × V.
  template <class T>
    requires std::is_floating_point_v<T>
  void accumulate_grad_tokens(std::span<T> grad_tokens, index_t vocab) const {
    RLHF_EXPECTS(vocab > 0 && grad_tokens.size() == argmax.size() * static_cast<std::size_t>(vocab),
                 "rlhf::max_consistency_result::accumulate_grad_tokens: buffer of ", grad_tokens.size(),
                 " entries for (", argmax.size(), ", ", vocab, ")");
    for (std::size_t i = 0; i < argmax.size(); ++i)
      grad_tokens[i * static_cast<std::size_t>(vocab) + static_cast<std::size_t>(argmax[i])] +=
          static_cast<T>(grad_max[i]);
  }
};

/// FaRMA max-consistency loss (Rashid et al. 2025, "A Critical Look at Tokenwise Reward-Guided
/// Text Generation", L2; ALGORITHMS.md §5): `L2 = ½ mean_i (r_i - max_v R_i[v])²`, which makes
/// the reward of a prefix equal the best reward reachable by one more token (a Bellman-style
/// consistency of the token reward model).
///
/// r_i = r(s, a^{1:i}) is read from the previous position's row at the chosen token and R_i =
/// R(s, a^{1:i}) is the next row; the caller gathers both. The max is not differentiable at
/// ties; the gradient goes to the lowest index attaining it (a valid subgradient, and
/// deterministic). Gradients: ∂/∂r_i = (r_i - m_i)/N, ∂/∂R_i[argmax] = -(r_i - m_i)/N, zeroed on a
/// side whose stop-gradient option is set.
/// @param rewards       (N) r_i.
/// @param token_rewards (N, V) R_i[v].
/// @throws rlhf::invalid_argument if N = 0, V = 0 or the rows differ from N;
///         rlhf::numerical_error if an input is not finite.
inline max_consistency_result max_consistency_loss(real_span rewards, real_matrix token_rewards,
                                                   const max_consistency_options& options = {}) {
  const auto n = rewards.size();
  RLHF_EXPECTS(n > 0, "rlhf::max_consistency_loss: no prefixes; pass at least one reward");
  RLHF_EXPECTS(token_rewards.cols() > 0, "rlhf::max_consistency_loss: token_rewards has no columns (V = 0)");
  detail::expect_matrix(token_rewards, static_cast<index_t>(n), token_rewards.cols(), "token_rewards");
  detail::expect_finite(rewards, "max-consistency rewards");
  detail::expect_finite(token_rewards.flat(), "token_rewards");

  const double inv_n = 1.0 / static_cast<double>(n);
  max_consistency_result r;
  r.grad_reward.resize(n);
  r.argmax.resize(n);
  r.grad_max.resize(n);
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto row = static_cast<index_t>(i);
    index_t best = 0;
    for (index_t v = 1; v < token_rewards.cols(); ++v)
      if (token_rewards(row, v) > token_rewards(row, best)) best = v;  // strict: lowest index wins ties
    const double diff = rewards[i] - token_rewards(row, best);
    sum += 0.5 * diff * diff;
    r.argmax[i] = best;
    r.grad_reward[i] = options.stop_gradient_reward ? 0.0 : diff * inv_n;
    r.grad_max[i] = options.stop_gradient_max ? 0.0 : -diff * inv_n;
  }
  r.loss = sum * inv_n;
  return r;
}

}  // namespace rlhf
