// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Temperature scaling z/T (Ackley, Hinton & Sejnowski 1985; the softmax temperature of
/// Holtzman et al. 2019, ALGORITHMS.md §6). No-op: T = 1. T = 0 is greedy: only the argmax
/// (ties: lowest id) is kept, so any later selector returns it with sampling log-prob 0; so is a
/// T small enough that a logit / T would overflow float (the T -> 0 limit).
#include <algorithm>
#include <limits>

#include "rlhf/sampling/concepts.hpp"

namespace rlhf::sampling {

/// Divides every logit by T (T > 0) or keeps only the argmax (T = 0).
/// @throws rlhf::invalid_argument when T < 0, NaN or infinite.
class temperature {
 public:
  using rlhf_concept = logit_processor_tag;

  explicit temperature(double t = 1.0) : t_(static_cast<float>(t)) {
    RLHF_EXPECTS(detail::finite(t) && t >= 0.0 && t <= std::numeric_limits<float>::max(),
                 "temperature: T = ", t, " is outside the allowed range [0, 3.4e38]; use 0 for greedy, 1 for no change");
  }
  double value() const noexcept { return t_; }

  void apply(candidates& c) const {
    if (t_ == 1.0f) return;
    // T so small that a logit / T overflows (or a T below float's range, stored as 0) is the
    // T -> 0 limit: greedy. Dividing anyway would give inf - inf = NaN in the softmax.
    float largest = 0.0f;
    for (const float x : c.logits())
      if (detail::finite(x)) largest = std::max(largest, x < 0 ? -x : x);
    if (t_ == 0.0f || !detail::finite(largest / t_)) {
      const index_t best = c.argmax();
      const token_id id = c.id(best);
      const float l = c.logit(best);
      c.keep_if([&](index_t i) { return i == best; });
      RLHF_ASSERT(c.size() == 1 && c.id(0) == id && c.logit(0) == l);
      c.set_sorted(true);
      return;
    }
    auto l = c.logits();
    for (float& x : l) x /= t_;
    // Division is monotone but may round two neighbours to the same value, after which the
    // lower id must come first: re-check instead of trusting the old flag.
    if (c.sorted()) {
      const auto ids = c.ids();
      for (std::size_t i = 1; i < l.size(); ++i)
        if (!detail::comes_before(l[i - 1], ids[i - 1], l[i], ids[i])) {
          c.set_sorted(false);
          break;
        }
    }
  }

 private:
  float t_;
};
static_assert(rlhf::logit_processor<temperature>);

}  // namespace rlhf::sampling
