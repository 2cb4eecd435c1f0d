// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Epoch order and mini-batches: file order by default; with shuffling, a Fisher–Yates
/// permutation (Knuth, TAOCP vol. 2, Algorithm 3.4.2P) driven by the counter-based RNG keyed
/// by (seed, epoch), so the same seed gives the same order on every machine and thread count.
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <numeric>
#include <span>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/core/rng.hpp"
#include "rlhf/core/view.hpp"

namespace rlhf::data {

/// A permutation of [0, n) that depends only on (seed, epoch).
inline std::vector<index_t> shuffled_indices(index_t n, std::uint64_t seed, std::uint64_t epoch = 0) {
  RLHF_EXPECTS(n >= 0, "shuffled_indices: n = ", n, " is negative");
  std::vector<index_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), index_t{0});
  const counter_rng rng(seed, rng_stream(rng_purpose::data_order, epoch));
  for (index_t i = n - 1; i > 0; --i) {
    // 53-bit uniform: the modulo bias of floor(u * (i + 1)) is below 2^-53 * n.
    auto j = static_cast<index_t>(rng.uniform(static_cast<std::uint64_t>(i)) * static_cast<double>(i + 1));
    j = std::min(j, i);
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

/// How an epoch is cut into batches.
struct batch_options {
  index_t batch_size = 1;
  bool shuffle = false;      // false: file order
  std::uint64_t seed = 0;    // with shuffle: the permutation of epoch e is keyed by (seed, e)
  bool drop_last = false;    // drop a final batch smaller than batch_size
  void validate() const {
    RLHF_EXPECTS(batch_size >= 1, "batch_options.batch_size = ", batch_size, " must be >= 1");
  }
};

/// The batches of one epoch over n examples: a random-access range of spans of example
/// indices. Batch b holds positions [b * batch_size, min(n, (b + 1) * batch_size)) of the
/// epoch order.
class epoch_batches {
 public:
  epoch_batches(index_t n, const batch_options& opt, std::uint64_t epoch = 0) : size_(opt.batch_size) {
    opt.validate();
    RLHF_EXPECTS(n >= 0, "epoch_batches: n = ", n, " is negative");
    if (opt.shuffle) {
      order_ = shuffled_indices(n, opt.seed, epoch);
    } else {
      order_.resize(static_cast<std::size_t>(n));
      std::iota(order_.begin(), order_.end(), index_t{0});
    }
    count_ = opt.drop_last ? n / size_ : (n + size_ - 1) / size_;
  }

  /// Number of batches.
  index_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  /// The epoch order (a permutation of [0, n)).
  std::span<const index_t> order() const noexcept { return order_; }
  /// Example indices of batch b.
  std::span<const index_t> operator[](index_t b) const {
    RLHF_EXPECTS(b >= 0 && b < count_, "epoch_batches: batch ", b, " out of range [0, ", count_, ")");
    const auto first = static_cast<std::size_t>(b * size_);
    const auto last = std::min(order_.size(), first + static_cast<std::size_t>(size_));
    return std::span<const index_t>(order_).subspan(first, last - first);
  }

  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::span<const index_t>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(const epoch_batches* owner, index_t b) : owner_(owner), b_(b) {}
    value_type operator*() const { return (*owner_)[b_]; }
    iterator& operator++() {
      ++b_;
      return *this;
    }
    iterator operator++(int) {
      auto old = *this;
      ++b_;
      return old;
    }
    friend bool operator==(const iterator& a, const iterator& b) { return a.b_ == b.b_; }

   private:
    const epoch_batches* owner_ = nullptr;
    index_t b_ = 0;
  };
  iterator begin() const { return {this, 0}; }
  iterator end() const { return {this, count_}; }

 private:
  std::vector<index_t> order_;
  index_t size_ = 1;
  index_t count_ = 0;
};

/// The examples at `indices`, copied in that order (to collate one batch).
template <class T>
std::vector<T> gather(const std::vector<T>& examples, std::span<const index_t> indices) {
  std::vector<T> out;
  out.reserve(indices.size());
  for (index_t i : indices) {
    RLHF_EXPECTS(i >= 0 && i < static_cast<index_t>(examples.size()), "gather: index ", i, " out of range [0, ",
                 examples.size(), ")");
    out.push_back(examples[static_cast<std::size_t>(i)]);
  }
  return out;
}

}  // namespace rlhf::data
