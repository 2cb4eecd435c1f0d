// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The candidate set every sampling stage works on (llama.cpp's token-data array, as a
/// structure of arrays): vocabulary ids, their current logits, and a `sorted` flag.
///
/// One total order is used by every stage, so that "the k largest" and "the nucleus" are
/// always well defined, ties included (ALGORITHMS.md §6):
///
///     a comes before b  ⇔  logit(a) > logit(b), or logit(a) == logit(b) and id(a) < id(b)
///
/// i.e. among equal logits the lower token id wins. `sorted() == true` promises the entries are
/// in exactly that order. Logits are float (what models emit); every probability, mass and
/// normaliser is computed in double from them.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/core/view.hpp"

namespace rlhf::sampling {

namespace detail {
/// A packed (logit, id) pair, used only as scratch while selecting.
struct entry {
  float logit;
  token_id id;
};
/// The canonical order (larger logit first; among equal logits the lower id first).
inline bool comes_before(float la, token_id ia, float lb, token_id ib) noexcept {
  return la > lb || (la == lb && ia < ib);
}
inline bool comes_before(const entry& a, const entry& b) noexcept {
  return comes_before(a.logit, a.id, b.logit, b.id);
}
struct canonical_less {
  bool operator()(const entry& a, const entry& b) const noexcept { return comes_before(a, b); }
};

/// Sorts `v` into the canonical order like std::sort with canonical_less, in O(n): a
/// least-significant-digit radix sort of one 64-bit key per entry (the logit's bits mapped to a
/// descending unsigned order, then the id ascending), 8 bits a pass, and a pass skipped when
/// every key has the same digit there (the high bytes of the ids, mostly). A logit of -0.0 comes
/// out as +0.0, the equal value that canonical_less ties it with. Short inputs use std::sort.
inline void radix_sort_canonical(std::vector<entry>& v) {
  const std::size_t n = v.size();
  if (n < 512) {
    std::sort(v.begin(), v.end(), canonical_less{});
    return;
  }
  thread_local std::vector<std::uint64_t> keys, spare;  // reused: no allocation per call
  keys.resize(n);
  spare.resize(n);
  std::array<std::array<std::uint32_t, 256>, 8> count{};
  for (std::size_t i = 0; i < n; ++i) {
    const float f = v[i].logit == 0.0f ? 0.0f : v[i].logit;
    auto u = std::bit_cast<std::uint32_t>(f);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // ascending unsigned order of the floats
    const std::uint64_t key = (static_cast<std::uint64_t>(~u) << 32) | static_cast<std::uint32_t>(v[i].id);
    keys[i] = key;
    for (int d = 0; d < 8; ++d) ++count[static_cast<std::size_t>(d)][(key >> (8 * d)) & 0xFFu];
  }
  for (int d = 0; d < 8; ++d) {
    auto& c = count[static_cast<std::size_t>(d)];
    if (c[(keys[0] >> (8 * d)) & 0xFFu] == n) continue;  // one digit for all: nothing to move
    std::uint32_t offset = 0;
    for (auto& x : c) offset += std::exchange(x, offset);
    for (std::size_t i = 0; i < n; ++i) spare[c[(keys[i] >> (8 * d)) & 0xFFu]++] = keys[i];
    keys.swap(spare);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const auto u = ~static_cast<std::uint32_t>(keys[i] >> 32);
    v[i].logit = std::bit_cast<float>((u & 0x80000000u) ? (u & 0x7FFFFFFFu) : ~u);
    v[i].id = static_cast<token_id>(static_cast<std::uint32_t>(keys[i]));
  }
}
}  // namespace detail

/// The tokens still in play for one row, with their current (processed) logits.
///
/// Built from one row of next-token logits (ids 0..V-1) or from an explicit id subset.
/// Stages shrink it (truncation), rescale or shift logits (temperature, penalties), and may
/// reorder it; a selector finally picks one id. Probabilities are never stored: they are
/// computed in double when a stage or selector needs them (`log_normalizer`, `probabilities`).
/// @throws rlhf::numerical_error on NaN or +inf logits (a model output gone wrong, which the
///         user must see); rlhf::invalid_argument on an empty row and on negative or repeated ids.
class candidates {
 public:
  candidates() = default;
  /// Candidates 0..V-1 from one row of logits (V).
  explicit candidates(std::span<const float> logits) { assign(logits); }
  /// Candidates `ids` with logits `logits` (same length; ids distinct and >= 0).
  candidates(std::span<const token_id> ids, std::span<const float> logits) { assign(ids, logits); }

  /// Refill from one row of logits (V), ids 0..V-1; reuses the allocation (one per row and step).
  void assign(std::span<const float> logits) {
    RLHF_EXPECTS(!logits.empty(), "sampling: the logits row is empty; a vocabulary of at least one token is required");
    const std::size_t n = logits.size();
    ids_.resize(n);
    logits_.assign(logits.begin(), logits.end());
    for (std::size_t i = 0; i < n; ++i) ids_[i] = static_cast<token_id>(i);
    sorted_ = false;
    check_logits();
  }
  /// Refill from an explicit subset of the vocabulary (e.g. ARGS's top-k candidates).
  void assign(std::span<const token_id> ids, std::span<const float> logits) {
    RLHF_EXPECTS(ids.size() == logits.size(), "sampling: ", ids.size(), " candidate ids but ",
                 logits.size(), " logits; pass one logit per id");
    RLHF_EXPECTS(!ids.empty(), "sampling: the candidate set is empty; pass at least one id");
    ids_.assign(ids.begin(), ids.end());
    logits_.assign(logits.begin(), logits.end());
    sorted_ = false;
    check_logits();
    std::vector<token_id> s(ids_);
    std::sort(s.begin(), s.end());
    RLHF_EXPECTS(s.front() >= 0, "sampling: candidate id ", s.front(), " is negative; ids are vocabulary indices >= 0");
    RLHF_EXPECTS(std::adjacent_find(s.begin(), s.end()) == s.end(),
                 "sampling: candidate id ", *std::adjacent_find(s.begin(), s.end()),
                 " appears twice; pass each id once");
  }

  index_t size() const noexcept { return static_cast<index_t>(ids_.size()); }
  bool empty() const noexcept { return ids_.empty(); }
  std::span<token_id> ids() noexcept { return ids_; }
  std::span<const token_id> ids() const noexcept { return ids_; }
  std::span<float> logits() noexcept { return logits_; }
  std::span<const float> logits() const noexcept { return logits_; }
  token_id id(index_t i) const noexcept { return ids_[static_cast<std::size_t>(i)]; }
  float logit(index_t i) const noexcept { return logits_[static_cast<std::size_t>(i)]; }

  /// True when the entries are in the canonical order (see the file comment).
  bool sorted() const noexcept { return sorted_; }
  /// Stages that rewrite logits or reorder entries must say whether the order still holds.
  void set_sorted(bool s) noexcept { sorted_ = s; }

  /// Keep the first n entries (truncation of a sorted set keeps it sorted).
  void truncate(index_t n) {
    RLHF_ASSERT(n >= 0 && n <= size(), "truncate(", n, ") of ", size(), " candidates");
    ids_.resize(static_cast<std::size_t>(n));
    logits_.resize(static_cast<std::size_t>(n));
  }
  /// Keep the entries for which keep(i) is true, in their current relative order.
  template <class Keep>
  void keep_if(Keep&& keep) {
    std::size_t w = 0;
    for (std::size_t i = 0; i < ids_.size(); ++i) {
      if (keep(static_cast<index_t>(i))) {
        ids_[w] = ids_[i];
        logits_[w] = logits_[i];
        ++w;
      }
    }
    ids_.resize(w);
    logits_.resize(w);
  }
  /// Sort everything into the canonical order (O(n log n); stages use partial selection).
  void sort() {
    if (sorted_) return;
    pack();
    std::sort(work_.begin(), work_.end(), detail::canonical_less{});
    unpack(work_);
    sorted_ = true;
  }
  /// Position of the largest entry in the canonical order (ties: lowest id). O(1) when sorted.
  index_t argmax() const noexcept {
    if (sorted_ || ids_.size() <= 1) return 0;
    std::size_t best = 0;
    for (std::size_t i = 1; i < ids_.size(); ++i)
      if (detail::comes_before(logits_[i], ids_[i], logits_[best], ids_[best])) best = i;
    return static_cast<index_t>(best);
  }
  /// Largest logit, as double (-inf when every candidate is -inf).
  double max_logit() const noexcept {
    float m = -std::numeric_limits<float>::infinity();
    for (float l : logits_) m = std::max(m, l);
    return m;
  }
  /// log Σ_i exp(logit_i) in double, summed in the current entry order (-inf if all -inf).
  double log_normalizer() const noexcept {
    const double m = max_logit();
    if (!std::isfinite(m)) return m;
    double z = 0.0;
    for (float l : logits_) z += std::exp(static_cast<double>(l) - m);
    return m + std::log(z);
  }
  /// softmax of the current logits in double, in entry order.
  std::vector<double> probabilities() const {
    std::vector<double> p(ids_.size(), 0.0);
    const double lz = log_normalizer();
    if (!std::isfinite(lz)) return p;
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = std::exp(static_cast<double>(logits_[i]) - lz);
    return p;
  }
  /// Position of token t, or -1. O(n).
  index_t find(token_id t) const noexcept {
    const auto it = std::find(ids_.begin(), ids_.end(), t);
    return it == ids_.end() ? index_t{-1} : static_cast<index_t>(it - ids_.begin());
  }

  /// Position of token t, or -1: O(1) while entry t still holds id t (a full, unreordered
  /// row, as penalties usually see it), O(n) otherwise.
  index_t locate(token_id t) const noexcept {
    if (t >= 0 && static_cast<std::size_t>(t) < ids_.size() && ids_[static_cast<std::size_t>(t)] == t) return t;
    return find(t);
  }

  /// Replace the contents with `sorted_entries` (already in canonical order).
  void assign_sorted(std::span<const detail::entry> sorted_entries) {
    unpack(sorted_entries);
    sorted_ = true;
  }
  /// Scratch the selecting stages may use (kept here so a row reuses one allocation).
  std::vector<detail::entry>& scratch() noexcept { return work_; }
  std::vector<detail::entry>& scratch2() noexcept { return work2_; }

 private:
  void check_logits() const {
    for (std::size_t i = 0; i < logits_.size(); ++i) {
      const float l = logits_[i];
      if (std::isnan(l) || l == std::numeric_limits<float>::infinity()) [[unlikely]]
        RLHF_THROW(numerical_error, "sampling: logit of token ", ids_[i], " is ", l,
                   "; logits must be finite or -inf (check the model's output for overflow)");
    }
  }
  void pack() {
    work_.resize(ids_.size());
    for (std::size_t i = 0; i < ids_.size(); ++i) work_[i] = {logits_[i], ids_[i]};
  }
  void unpack(std::span<const detail::entry> e) {
    ids_.resize(e.size());
    logits_.resize(e.size());
    for (std::size_t i = 0; i < e.size(); ++i) {
      ids_[i] = e[i].id;
      logits_[i] = e[i].logit;
    }
  }

  std::vector<token_id> ids_;   // (n) vocabulary ids
  std::vector<float> logits_;   // (n) current logits
  bool sorted_ = false;
  std::vector<detail::entry> work_, work2_;  // scratch, never observable
};

namespace detail {
/// Appends to `out`, in canonical order, the `k` first entries of `c` (canonical order) among
/// those that come strictly after `after` (all entries when after == nullptr).
/// A bounded heap over one pass of the SoA arrays: O(n log k) comparisons, O(k) writes, so the
/// vocabulary is never sorted or even copied when k is small.
inline void select_first(const candidates& c, std::size_t k, const entry* after,
                         std::vector<entry>& out, std::vector<entry>& heap) {
  heap.clear();
  if (k == 0) return;
  const auto ids = c.ids();
  const auto logits = c.logits();
  const canonical_less less{};
  bool is_heap = false;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const entry e{logits[i], ids[i]};
    if (after != nullptr && !comes_before(*after, e)) continue;
    if (!is_heap) {
      heap.push_back(e);
      if (heap.size() == k) {
        std::make_heap(heap.begin(), heap.end(), less);  // front = last kept in canonical order
        is_heap = true;
      }
    } else if (comes_before(e, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), less);
      heap.back() = e;
      std::push_heap(heap.begin(), heap.end(), less);
    }
  }
  if (is_heap)
    std::sort_heap(heap.begin(), heap.end(), less);
  else
    std::sort(heap.begin(), heap.end(), less);
  out.insert(out.end(), heap.begin(), heap.end());
}

/// Validation helper shared by stages: a finite float parameter.
inline bool finite(double x) noexcept { return std::isfinite(x); }
}  // namespace detail

}  // namespace rlhf::sampling
