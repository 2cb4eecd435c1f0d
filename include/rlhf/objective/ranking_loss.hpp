// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// k-wise ranking loss of one prompt: every ordered pair of a best-first ranking, ties skipped.
#include <span>
#include <utility>
#include <vector>

#include "rlhf/objective/concepts.hpp"
#include "rlhf/objective/sigmoid_loss.hpp"

namespace rlhf {

/// Two response indices whose ranking is a tie (A = B); order within the pair is irrelevant.
using tie_pair = std::pair<index_t, index_t>;

/// Value and gradient of the ranking loss of one prompt.
struct ranking_result {
  double loss = 0.0;          ///< 1/C Σ_{i<j, not tied} L(r_i - r_j); 0 when C = 0
  std::vector<double> grad;   ///< (k) ∂ loss / ∂ r_i
  index_t pairs_used = 0;     ///< C, the normaliser: pairs that were not ties
  double accuracy = 0.0;      ///< fraction of used pairs with r_i > r_j
};

/// k-wise ranking loss (Ouyang et al. 2022, eq. 1; ALGORITHMS.md §2): for rewards r_1..r_k of
/// one prompt's responses ranked best first, `L = -1/C Σ_{i<j, (i,j) not tied} log σ(r_i - r_j)`,
/// where C counts the pairs actually used. Any preference loss may replace -log σ (at β = 1).
/// With k = 2 and no ties this is exactly the pairwise loss of one pair.
///
/// A ranking whose pairs are all tied has C = 0: the result is loss 0, zero gradient and
/// pairs_used = 0, so a trainer can skip the record (or count it) without a special case.
/// @tparam Loss a rlhf::preference_loss (default loss::sigmoid), evaluated at β = 1.
/// @param rewards (k) rewards of the responses, best first.
/// @param ties    index pairs (i, j) into rewards that are tied and must be skipped.
/// @throws rlhf::invalid_argument if k < 2 or a tie index is out of range or pairs a response
///         with itself; rlhf::numerical_error if a reward is not finite.
template <preference_loss Loss = loss::sigmoid>
ranking_result ranking_loss(real_span rewards, std::span<const tie_pair> ties = {}, const Loss& fn = Loss{}) {
  const auto k = static_cast<index_t>(rewards.size());
  RLHF_EXPECTS(k >= 2, "rlhf::ranking_loss: a ranking needs at least 2 responses, got ", k);
  detail::expect_finite(rewards, "ranking rewards");
  // (k × k) tie table: k is the handful of responses of one prompt.
  std::vector<char> tied(static_cast<std::size_t>(k * k), 0);
  for (std::size_t t = 0; t < ties.size(); ++t) {
    const auto [a, b] = ties[t];
    RLHF_EXPECTS(a >= 0 && a < k && b >= 0 && b < k && a != b, "rlhf::ranking_loss: ties[", t, "] = (", a,
                 ", ", b, ") must name two different responses in [0, ", k, ")");
    tied[static_cast<std::size_t>(a * k + b)] = tied[static_cast<std::size_t>(b * k + a)] = 1;
  }
  ranking_result r;
  r.grad.assign(static_cast<std::size_t>(k), 0.0);
  double sum = 0.0, correct = 0.0;
  for (index_t i = 0; i < k; ++i)
    for (index_t j = i + 1; j < k; ++j) {
      if (tied[static_cast<std::size_t>(i * k + j)]) continue;
      const double h = rewards[static_cast<std::size_t>(i)] - rewards[static_cast<std::size_t>(j)];
      const double dl = fn.grad(h, 1.0);
      sum += fn.value(h, 1.0);
      correct += h > 0.0 ? 1.0 : 0.0;
      r.grad[static_cast<std::size_t>(i)] += dl;
      r.grad[static_cast<std::size_t>(j)] -= dl;
      ++r.pairs_used;
    }
  if (r.pairs_used == 0) return r;
  const double inv_c = 1.0 / static_cast<double>(r.pairs_used);
  for (double& g : r.grad) g *= inv_c;
  r.loss = sum * inv_c;
  r.accuracy = correct * inv_c;
  return r;
}

}  // namespace rlhf
