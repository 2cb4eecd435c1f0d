// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Non-owning views that carry a shape and a memory space.
///
/// `view<T, Space>` is a pointer, a rank (1..4) and the extents, row-major and contiguous.
/// The memory space is part of the type: a `view<float, host_space>` does not convert to a
/// `view<float, thrust_space<S>>`, so handing host memory to a device kernel does not compile.
/// Copies between spaces are explicit (Backend::to_host / Backend::from_host).
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <type_traits>

#include "rlhf/config.hpp"
#include "rlhf/core/error.hpp"

namespace rlhf {

using index_t = std::int64_t;
using token_id = std::int32_t;

/// Ordinary host memory (the Eigen backend, the library boundary).
struct host_space {};

/// Shape of a view: up to four extents, row-major.
struct shape {
  int rank = 0;
  std::array<index_t, 4> dims{0, 0, 0, 0};

  constexpr shape() = default;
  constexpr shape(std::initializer_list<index_t> d) {
    RLHF_ASSERT(d.size() <= 4, "rlhf::shape supports rank <= 4");
    for (index_t x : d) dims[static_cast<std::size_t>(rank++)] = x;
  }
  constexpr index_t size() const noexcept {
    index_t n = rank == 0 ? 0 : 1;
    for (int i = 0; i < rank; ++i) n *= dims[static_cast<std::size_t>(i)];
    return n;
  }
  constexpr index_t operator[](int i) const noexcept { return dims[static_cast<std::size_t>(i)]; }
  friend constexpr bool operator==(const shape& a, const shape& b) noexcept {
    if (a.rank != b.rank) return false;
    for (int i = 0; i < a.rank; ++i)
      if (a.dims[static_cast<std::size_t>(i)] != b.dims[static_cast<std::size_t>(i)]) return false;
    return true;
  }
};

/// A contiguous, row-major, non-owning view of `shape.size()` elements of T in `Space`.
template <class T, class Space>
class view {
 public:
  using value_type = T;
  using element_type = T;
  using space = Space;

  constexpr view() = default;
  constexpr view(T* data, shape s) noexcept : data_(data), shape_(s) {}
  /// const view from a mutable one (same space only).
  template <class U>
    requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>)
  constexpr view(const view<U, Space>& v) noexcept : data_(v.data()), shape_(v.extents()) {}

  constexpr T* data() const noexcept { return data_; }
  constexpr const shape& extents() const noexcept { return shape_; }
  constexpr int rank() const noexcept { return shape_.rank; }
  constexpr index_t dim(int i) const noexcept { return shape_[i]; }
  constexpr index_t size() const noexcept { return shape_.size(); }
  constexpr bool empty() const noexcept { return data_ == nullptr || size() == 0; }
  /// Last extent: the contiguous row length.
  constexpr index_t cols() const noexcept { return shape_.rank == 0 ? 0 : shape_[shape_.rank - 1]; }
  /// Product of all extents but the last.
  constexpr index_t rows() const noexcept { return cols() == 0 ? 0 : size() / cols(); }

  /// The same memory with another shape of the same size.
  constexpr view reshape(shape s) const {
    RLHF_ASSERT(s.size() == size(), "reshape must keep the number of elements");
    return view(data_, s);
  }
  /// `count` consecutive elements starting at flat offset `offset`, as a view of shape s.
  constexpr view slice(index_t offset, shape s) const {
    RLHF_ASSERT(offset >= 0 && offset + s.size() <= size(), "slice out of range");
    return view(data_ + offset, s);
  }
  /// Rows [first, first + count) of the leading dimension.
  constexpr view rows_slice(index_t first, index_t count) const {
    const index_t per = size() / (shape_[0] == 0 ? 1 : shape_[0]);
    shape s = shape_;
    s.dims[0] = count;
    return slice(first * per, s);
  }
  /// Element access: host memory only.
  constexpr T& operator[](index_t i) const noexcept
    requires std::is_same_v<Space, host_space>
  {
    return data_[i];
  }
  constexpr T* begin() const noexcept requires std::is_same_v<Space, host_space> { return data_; }
  constexpr T* end() const noexcept requires std::is_same_v<Space, host_space> { return data_ + size(); }
  std::span<T> span() const noexcept requires std::is_same_v<Space, host_space> {
    return {data_, static_cast<std::size_t>(size())};
  }

 private:
  T* data_ = nullptr;
  shape shape_{};
};

template <class T>
using host_view = view<T, host_space>;

/// A host view over a contiguous container (std::vector, std::array) with a given shape.
template <class C>
auto host_view_of(C& c, shape s) {
  using T = std::remove_reference_t<decltype(*std::data(c))>;
  RLHF_ASSERT(static_cast<index_t>(std::size(c)) >= s.size(), "container smaller than shape");
  return view<T, host_space>(std::data(c), s);
}
template <class C>
auto host_view_of(C& c) {
  return host_view_of(c, shape{static_cast<index_t>(std::size(c))});
}

/// Throws rlhf::invalid_argument when two shapes differ; `what` names the operand.
inline void expect_shape(const shape& got, const shape& want, const char* what) {
  if (got == want) return;
  auto fmt = [](const shape& s) {
    std::string r = "(";
    for (int i = 0; i < s.rank; ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + ")";
  };
  RLHF_THROW(invalid_argument, what, ": shape ", fmt(got), " where ", fmt(want), " is required");
}

}  // namespace rlhf
