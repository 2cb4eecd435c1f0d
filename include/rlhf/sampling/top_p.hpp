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
/// their mass is short of p, a 2048-bucket histogram of the logits (counts, bounding each
/// bucket's mass from below) finds a canonical prefix that surely holds the nucleus, and only
/// that prefix is sorted. A small nucleus costs O(n log 64); a nucleus of size s costs O(n) plus
/// a radix sort of s' entries, s' = s plus the entries of one bucket; the vocabulary is sorted only
/// when the nucleus is (nearly) all of it.
#include <algorithm>
#include <cmath>
#include <vector>

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
    // The nucleus is large: find the canonical prefix that holds it with a histogram of the
    // logits (one pass), then sort only that prefix.
    cut_by_histogram(c, m, target);
  }

 private:
  /// Buckets of equal logit width w between the largest and the smallest finite logit; bucket b
  /// holds logits in (m - (b+1)w, m - bw] (bucket 0 the largest). A bucket of c entries has mass
  /// at least c·exp(-(b+1)w), so scanning buckets from the top until these lower bounds exceed
  /// p·Z (with a relative margin far above rounding) selects every entry with logit above that
  /// bucket's lower edge: a prefix of the canonical order (equal logits share a bucket) whose
  /// mass, cumulated in canonical order, surely reaches p·Z. Only that prefix is sorted, then cut
  /// exactly. One pass without exponentials to count, one to collect. Stateless: one top_p may
  /// serve several threads (generate samples rows in parallel).
  void cut_by_histogram(candidates& c, double m, double target) const {
    constexpr int buckets = 2048;
    const auto l = c.logits();
    const auto ids = c.ids();
    const std::size_t n = l.size();
    double lo = m;
    for (float x : l)
      if (std::isfinite(x)) lo = std::min(lo, static_cast<double>(x));
    const double width = (m - lo) / buckets, inv = width > 0 ? 1.0 / width : 0.0;
    auto bucket_of = [&](float x) {  // -inf after every finite logit
      if (!std::isfinite(x)) return buckets;
      return std::min(buckets - 1, static_cast<int>((m - static_cast<double>(x)) * inv));
    };
    std::vector<std::size_t> count(buckets + 1, 0);
    for (float x : l) ++count[static_cast<std::size_t>(bucket_of(x))];
    const double enough = target * (1.0 + 1e-9);
    int last = 0;
    for (double acc = 0.0; last < buckets; ++last) {
      acc += static_cast<double>(count[static_cast<std::size_t>(last)]) * std::exp(-(last + 1) * width);
      if (acc >= enough) break;
    }
    auto& kept = c.scratch2();
    kept.clear();
    for (std::size_t i = 0; i < n; ++i)
      if (bucket_of(l[i]) <= last) kept.push_back({l[i], ids[i]});
    detail::radix_sort_canonical(kept);
    double cum = 0.0;
    for (std::size_t j = 0; j < kept.size(); ++j) {
      cum += std::exp(static_cast<double>(kept[j].logit) - m);
      if (cum >= target && j + 1 >= static_cast<std::size_t>(min_keep_)) {
        kept.resize(j + 1);
        break;
      }
    }
    c.assign_sorted(kept);  // when rounding kept the mass short of p·Z: everything selected
  }

  double p_;
  index_t min_keep_;
};
static_assert(rlhf::logit_processor<top_p>);

}  // namespace rlhf::sampling
