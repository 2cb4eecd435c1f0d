// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// `rlhf::host_buffer<T>`: the owning storage of the host backends (the `buffer<T>` of
/// rlhf::backend::eigen). One 64-byte aligned, zero-initialised allocation with a shape, so that
/// Eigen's aligned loads and AVX-512 lines never straddle the start of a tensor.
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

#include "rlhf/core/error.hpp"
#include "rlhf/core/view.hpp"

namespace rlhf {

/// An owning, shaped, 64-byte aligned, zero-initialised array of T in host memory.
/// Movable, not copyable: a copy of a weight tensor is always explicit (`clone()`).
template <class T>
class host_buffer {
  static_assert(std::is_trivially_copyable_v<T> && !std::is_const_v<T>,
                "host_buffer holds plain numbers (float, double, int32)");

 public:
  using value_type = T;
  using space = host_space;
  /// Alignment of data() in bytes (a cache line; enough for every SIMD width Eigen uses).
  static constexpr std::size_t alignment = 64;

  host_buffer() = default;
  /// A zero-filled buffer of `s.size()` elements with extents `s`.
  explicit host_buffer(shape s) : shape_(s) {
    for (int i = 0; i < s.rank; ++i)
      RLHF_EXPECTS(s[i] >= 0, "host_buffer: extent ", i, " is ", s[i],
                   "; extents must be non-negative");
    const index_t n = s.size();
    if (n == 0) return;
    // aligned_alloc wants a multiple of the alignment.
    const std::size_t bytes =
        (static_cast<std::size_t>(n) * sizeof(T) + alignment - 1) / alignment * alignment;
    data_ = static_cast<T*>(std::aligned_alloc(alignment, bytes));
    if (data_ == nullptr) throw std::bad_alloc();
    std::memset(static_cast<void*>(data_), 0, bytes);
  }
  host_buffer(const host_buffer&) = delete;
  host_buffer& operator=(const host_buffer&) = delete;
  host_buffer(host_buffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), shape_(std::exchange(o.shape_, shape{})) {}
  host_buffer& operator=(host_buffer&& o) noexcept {
    if (this != &o) {
      std::free(data_);
      data_ = std::exchange(o.data_, nullptr);
      shape_ = std::exchange(o.shape_, shape{});
    }
    return *this;
  }
  ~host_buffer() { std::free(data_); }

  /// A deep copy (the only way to copy a buffer).
  host_buffer clone() const {
    host_buffer r(shape_);
    if (size() > 0) std::memcpy(static_cast<void*>(r.data_), data_, static_cast<std::size_t>(size()) * sizeof(T));
    return r;
  }

  rlhf::view<T, host_space> view() noexcept { return {data_, shape_}; }
  rlhf::view<const T, host_space> view() const noexcept { return {data_, shape_}; }
  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  index_t size() const noexcept { return shape_.size(); }
  shape extents() const noexcept { return shape_; }
  std::span<T> span() noexcept { return {data_, static_cast<std::size_t>(size())}; }
  std::span<const T> span() const noexcept { return {data_, static_cast<std::size_t>(size())}; }

 private:
  T* data_ = nullptr;
  shape shape_{};
};

}  // namespace rlhf
