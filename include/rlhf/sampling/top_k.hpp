// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Top-k truncation (Fan, Lewis & Dauphin 2018, "Hierarchical Neural Story Generation";
/// ALGORITHMS.md §6): keep the k first candidates in the canonical order (larger logit first,
/// equal logits: lower id first). No-op: k = 0 or k >= number of candidates.
/// Exact partial selection, the vocabulary is never sorted: for k <= n/64 one pass with a bounded
/// heap over the arrays (O(n log k), no copy), otherwise nth_element (O(n)) then a sort of the k
/// kept (O(k log k)). The kept k come out sorted.
#include <algorithm>

#include "rlhf/sampling/concepts.hpp"

namespace rlhf::sampling {

/// Keeps the k largest logits (ties: lower id wins).
/// @throws rlhf::invalid_argument when k < 0.
class top_k {
 public:
  using rlhf_concept = logit_processor_tag;

  explicit top_k(index_t k = 0) : k_(k) {
    RLHF_EXPECTS(k >= 0, "top_k: k = ", k, " is outside the allowed range [0, inf); use 0 to disable");
  }
  index_t value() const noexcept { return k_; }

  void apply(candidates& c) const {
    if (k_ == 0 || k_ >= c.size()) return;
    if (c.sorted()) {
      c.truncate(k_);
      return;
    }
    auto& out = c.scratch();
    out.clear();
    if (k_ * 64 <= c.size()) {
      detail::select_first(c, static_cast<std::size_t>(k_), nullptr, out, c.scratch2());
    } else {
      // A large k: O(n) nth_element then sort the k kept beats a heap of size k.
      const auto ids = c.ids();
      const auto l = c.logits();
      out.resize(ids.size());
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = {l[i], ids[i]};
      const auto kth = out.begin() + static_cast<std::ptrdiff_t>(k_);
      std::nth_element(out.begin(), kth, out.end(), detail::canonical_less{});
      out.resize(static_cast<std::size_t>(k_));
      std::sort(out.begin(), out.end(), detail::canonical_less{});
    }
    c.assign_sorted(out);
  }

 private:
  index_t k_;
};
static_assert(rlhf::logit_processor<top_k>);

}  // namespace rlhf::sampling
