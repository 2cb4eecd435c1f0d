// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Greedy selection (ALGORITHMS.md §6): the candidate with the largest logit; among equal
/// logits the lowest id. Deterministic, so the sampling log-prob of the pick is 0.
#include <cmath>
#include <limits>

#include "rlhf/sampling/concepts.hpp"

namespace rlhf::sampling {

/// Picks argmax (ties: lowest id); the rng is not used.
/// @throws rlhf::numerical_error when every candidate is -inf (nothing can be chosen).
struct greedy {
  using rlhf_concept = selector_tag;

  token_id select(const candidates& c, const counter_rng& /*rng*/ = counter_rng{0, 0},
                  std::uint64_t /*counter*/ = 0) const {
    RLHF_EXPECTS(!c.empty(), "greedy: no candidates left; a processor removed every token");
    const index_t i = c.argmax();
    if (c.logit(i) == -std::numeric_limits<float>::infinity())
      RLHF_THROW(numerical_error, "greedy: every candidate has logit -inf (all tokens banned); relax the bans");
    return c.id(i);
  }
  double log_prob(const candidates& c, token_id t) const {
    return select(c) == t ? 0.0 : -std::numeric_limits<double>::infinity();
  }
};
static_assert(rlhf::selector<greedy>);

}  // namespace rlhf::sampling
