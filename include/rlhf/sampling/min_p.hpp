// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Min-p truncation (Nguyen et al. 2024, "Turning Up the Heat: Min-p Sampling for Creative and
/// Coherent LLM Outputs"; ALGORITHMS.md §6): keep v when p_v >= p_min · p_max, i.e.
/// exp(l_v - l_max) >= p_min evaluated in double; never fewer than min_keep tokens (the
/// min_keep first in canonical order). No-op: p_min = 0. Keeps the relative order of entries.
#include <cmath>

#include "rlhf/sampling/top_k.hpp"

namespace rlhf::sampling {

/// Keeps tokens whose probability is at least p_min times the largest probability.
/// @throws rlhf::invalid_argument when p_min is outside [0, 1] or min_keep < 1.
class min_p {
 public:
  using rlhf_concept = logit_processor_tag;

  explicit min_p(double p_min = 0.0, index_t min_keep = 1) : p_(p_min), min_keep_(min_keep) {
    RLHF_EXPECTS(p_min >= 0.0 && p_min <= 1.0, "min_p: p_min = ", p_min,
                 " is outside the allowed range [0, 1]; use 0 to disable");
    RLHF_EXPECTS(min_keep >= 1, "min_p: min_keep = ", min_keep, " is outside the allowed range [1, inf)");
  }
  double value() const noexcept { return p_; }

  void apply(candidates& c) const {
    if (p_ <= 0.0) return;
    const double m = c.max_logit();
    if (!std::isfinite(m)) return;
    const auto l = c.logits();
    auto keep = [&](index_t i) {
      return std::exp(static_cast<double>(l[static_cast<std::size_t>(i)]) - m) >= p_;
    };
    index_t survivors = 0;
    for (index_t i = 0; i < c.size(); ++i) survivors += keep(i) ? 1 : 0;
    if (survivors < min_keep_) {
      top_k{min_keep_}.apply(c);
      return;
    }
    if (survivors == c.size()) return;
    // keep_if evaluates keep(i) before it writes position i, so reading l[i] stays valid.
    c.keep_if(keep);
  }

 private:
  double p_;
  index_t min_keep_;
};
static_assert(rlhf::logit_processor<min_p>);

}  // namespace rlhf::sampling
