// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Categorical (ancestral) sampling from softmax of the kept candidates' logits
/// (ALGORITHMS.md §6), by inverse CDF with one uniform u = rng.uniform(counter).
///
/// Batch- and thread-invariance: the CDF is accumulated in ascending token-id order, whatever
/// order the processors left the entries in, and u comes from the counter-based RNG keyed by
/// (seed, row) at counter = step. So the token depends only on (kept set, logits, seed, row,
/// step), never on the batch size, the thread count or the stage implementation.
/// All arithmetic is double: q_v = exp(l_v - max) / Z; the pick is the first v (id order) with
/// Σ_{w<=v} exp(l_w - max) > u·Z, so zero-probability entries are never picked.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "rlhf/sampling/concepts.hpp"

namespace rlhf::sampling {

/// Draws one id from the renormalised distribution over the kept candidates.
/// @throws rlhf::numerical_error when every candidate is -inf.
class categorical {
 public:
  using rlhf_concept = selector_tag;

  token_id select(const candidates& c, const counter_rng& rng, std::uint64_t counter) {
    RLHF_EXPECTS(!c.empty(), "categorical: no candidates left; a processor removed every token");
    const double m = c.max_logit();
    if (!std::isfinite(m))
      RLHF_THROW(numerical_error, "categorical: every candidate has logit -inf (all tokens banned); relax the bans");
    const double u = rng.uniform(counter);
    const auto ids = c.ids();
    const auto l = c.logits();
    const std::size_t n = ids.size();
    weights_.resize(n);
    for (std::size_t i = 0; i < n; ++i) weights_[i] = std::exp(static_cast<double>(l[i]) - m);
    auto weight = [this](std::size_t i) { return weights_[i]; };

    if (std::is_sorted(ids.begin(), ids.end())) return draw(c, u, [&](auto&& visit) {
        for (std::size_t i = 0; i < n; ++i) visit(i);
      }, weight);
    // Visit entries in ascending id order without sorting the whole set when ids are dense.
    const token_id max_id = *std::max_element(ids.begin(), ids.end());
    if (n <= 1024 || static_cast<std::size_t>(max_id) > 8 * n) {
      order_.resize(n);
      std::iota(order_.begin(), order_.end(), std::uint32_t{0});
      std::sort(order_.begin(), order_.end(), [&](std::uint32_t a, std::uint32_t b) { return ids[a] < ids[b]; });
      return draw(c, u, [&](auto&& visit) {
        for (std::uint32_t i : order_) visit(i);
      }, weight);
    }
    slot_.assign(static_cast<std::size_t>(max_id) + 1, -1);
    for (std::size_t i = 0; i < n; ++i) slot_[static_cast<std::size_t>(ids[i])] = static_cast<std::int32_t>(i);
    return draw(c, u, [&](auto&& visit) {
      for (std::int32_t i : slot_)
        if (i >= 0) visit(static_cast<std::size_t>(i));
    }, weight);
  }

  /// log q(t) = l_t - log Σ exp(l) over the kept candidates; -inf when t is not kept.
  double log_prob(const candidates& c, token_id t) const {
    const index_t i = c.find(t);
    if (i < 0) return -std::numeric_limits<double>::infinity();
    return static_cast<double>(c.logit(i)) - c.log_normalizer();
  }

 private:
  template <class ForEach, class Weight>
  static token_id draw(const candidates& c, double u, ForEach&& for_each, Weight&& weight) {
    double z = 0.0;
    for_each([&](std::size_t i) { z += weight(i); });
    const double target = u * z;
    double cum = 0.0;
    token_id pick = -1, last_positive = -1;
    for_each([&](std::size_t i) {
      if (pick >= 0) return;
      const double w = weight(i);
      if (w <= 0.0) return;
      cum += w;
      last_positive = c.id(static_cast<index_t>(i));
      if (cum > target) pick = last_positive;
    });
    // u·Z can round up to Z itself; the draw then belongs to the last positive entry.
    return pick >= 0 ? pick : last_positive;
  }

  std::vector<double> weights_;        // scratch: exp(l - max) per entry
  std::vector<std::uint32_t> order_;  // scratch: entry indices in id order
  std::vector<std::int32_t> slot_;    // scratch: id -> entry index (dense case)
};
static_assert(rlhf::selector<categorical>);

}  // namespace rlhf::sampling
