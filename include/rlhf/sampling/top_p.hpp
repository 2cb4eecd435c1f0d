// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Nucleus (top-p) truncation (Holtzman et al. 2019, "The Curious Case of Neural Text
/// Degeneration", §3.1; ALGORITHMS.md §6): keep the smallest prefix of the canonical order
/// (larger logit first, equal logits: lower id first) whose probability mass reaches p, never
/// fewer than min_keep (>= 1) tokens. No-op: p = 1.
///
/// Masses are computed in double: p_v = exp(l_v - max) / Z with Z = Σ exp(l - max) summed over
/// the input in entry order; the prefix ends at the first position j with Σ_{i<=j} p_i·Z >= p·Z
/// (cumulated in canonical order). This is exactly the full-sort definition.
///
/// Partial selection: the first 64 entries are selected with a bounded heap over the arrays; if
/// their mass is short of p, batches growing 4× are selected from the rest with nth_element and
/// only those are sorted. A small nucleus costs O(n log 64); a nucleus of size s costs
/// O(n log(s)) partitioning plus O(s log s) sorting; the vocabulary is sorted only if s > n/4.
#include <cmath>

#include "rlhf/sampling/concepts.hpp"

namespace rlhf::sampling {

/// Keeps the smallest high-probability set whose mass reaches p.
/// @throws rlhf::invalid_argument when p is outside (0, 1] or min_keep < 1.
class top_p {
 public:
  using rlhf_concept = logit_processor_tag;

  explicit top_p(double p = 1.0, index_t min_keep = 1) : p_(p), min_keep_(min_keep) {
    RLHF_EXPECTS(p > 0.0 && p <= 1.0, "top_p: p = ", p, " is outside the allowed range (0, 1]; use 1 to disable");
    RLHF_EXPECTS(min_keep >= 1, "top_p: min_keep = ", min_keep, " is outside the allowed range [1, inf)");
  }
  double value() const noexcept { return p_; }

  void apply(candidates& c) const {
    const index_t n = c.size();
    if (p_ >= 1.0 || n <= min_keep_) return;
    const double m = c.max_logit();
    if (!std::isfinite(m)) return;  // every candidate is -inf: nothing to rank by mass
    double z = 0.0;
    for (float l : c.logits()) z += std::exp(static_cast<double>(l) - m);
    const double target = p_ * z;

    if (c.sorted()) {
      double cum = 0.0;
      const auto l = c.logits();
      for (index_t i = 0; i < n; ++i) {
        cum += std::exp(static_cast<double>(l[static_cast<std::size_t>(i)]) - m);
        if (cum >= target) {
          c.truncate(std::max(i + 1, min_keep_));
          return;
        }
      }
      return;  // rounding kept the mass just short of p·Z: keep everything
    }

    // Round 1: a bounded heap over the SoA arrays (no copy of the vocabulary).
    auto& kept = c.scratch();
    kept.clear();
    const std::size_t first = std::max<std::size_t>(64, static_cast<std::size_t>(min_keep_));
    detail::select_first(c, first, nullptr, kept, c.scratch2());
    double cum = 0.0;
    for (std::size_t j = 0; j < kept.size(); ++j) {
      cum += std::exp(static_cast<double>(kept[j].logit) - m);
      if (cum >= target && j + 1 >= static_cast<std::size_t>(min_keep_)) {
        kept.resize(j + 1);
        c.assign_sorted(kept);
        return;
      }
    }
    if (kept.size() == static_cast<std::size_t>(n)) {
      c.assign_sorted(kept);  // rounding kept the mass just short of p·Z: keep everything
      return;
    }
    // Later rounds: the nucleus is large. Pack once; each round selects the next 4× larger batch
    // from the unsorted suffix with nth_element (O(suffix)) and sorts only that batch, so the
    // sorting work is bounded by 4× the nucleus, never the whole vocabulary unless it needs it.
    auto& all = c.scratch2();
    all.resize(static_cast<std::size_t>(n));
    {
      const auto ids = c.ids();
      const auto l = c.logits();
      for (std::size_t i = 0; i < all.size(); ++i) all[i] = {l[i], ids[i]};
    }
    const detail::canonical_less less{};
    std::size_t lo = 0;
    cum = 0.0;
    for (std::size_t batch = 4 * first;; batch *= 4) {
      const std::size_t hi = std::min(batch, all.size());
      if (hi < all.size())
        std::nth_element(all.begin() + static_cast<std::ptrdiff_t>(lo), all.begin() + static_cast<std::ptrdiff_t>(hi),
                         all.end(), less);
      std::sort(all.begin() + static_cast<std::ptrdiff_t>(lo), all.begin() + static_cast<std::ptrdiff_t>(hi), less);
      for (; lo < hi; ++lo) {
        cum += std::exp(static_cast<double>(all[lo].logit) - m);
        if (cum >= target && lo + 1 >= static_cast<std::size_t>(min_keep_)) {
          all.resize(lo + 1);
          c.assign_sorted(all);
          return;
        }
      }
      if (hi == all.size()) break;
    }
    c.assign_sorted(all);
  }

 private:
  double p_;
  index_t min_keep_;
};
static_assert(rlhf::logit_processor<top_p>);

}  // namespace rlhf::sampling
