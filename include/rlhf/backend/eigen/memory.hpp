// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Eigen backend, memory and BLAS-1 kernels: fill, copy, axpy, scale, add, sum, sum_squares,
/// to_host, from_host (the host is this backend's own space, so the copies are memcpy).
// IWYU pragma: private
#include <cstring>
#include <span>
#include <type_traits>

#include "rlhf/backend/eigen/common.hpp"

namespace rlhf::backend::eigen_detail {

/// Element-wise kernels on contiguous views, chunked so that threads never share a cache line
/// and reductions have a fixed order (double accumulation).
struct memory_kernels {
  /// Elements per chunk of the element-wise loops and of the reductions.
  static constexpr index_t chunk = 1 << 15;

  /// x = a.
  template <class T>
  static void fill(out_view<T> x, scalar<T> a) {
    parallel_chunks(x.size(), chunk, [&](index_t b, index_t e) { std::fill(x.data() + b, x.data() + e, a); });
  }
  /// y = x.
  template <class T>
  static void copy(out_view<T> y, in_view<T> x) {
    expect_same(y, x, "copy: source");
    if (y.size() == 0 || y.data() == x.data()) return;
    std::memcpy(static_cast<void*>(y.data()), x.data(), static_cast<std::size_t>(y.size()) * sizeof(T));
  }
  /// y += α x.
  template <class T>
  static void axpy(out_view<T> y, scalar<T> alpha, in_view<T> x) {
    expect_same(x, y, "axpy: x");
    parallel_chunks(y.size(), chunk, [&](index_t b, index_t e) {
      array_map<T>(y.data() + b, e - b) += alpha * const_array_map<T>(x.data() + b, e - b);
    });
  }
  /// x *= α.
  template <class T>
  static void scale(out_view<T> x, scalar<T> alpha) {
    parallel_chunks(x.size(), chunk, [&](index_t b, index_t e) { array_map<T>(x.data() + b, e - b) *= alpha; });
  }
  /// out = a + b (out may alias a or b).
  template <class T>
  static void add(out_view<T> out, in_view<T> a, in_view<T> b) {
    expect_same(a, out, "add: a");
    expect_same(b, out, "add: b");
    parallel_chunks(out.size(), chunk, [&](index_t s, index_t e) {
      array_map<T>(out.data() + s, e - s) =
          const_array_map<T>(a.data() + s, e - s) + const_array_map<T>(b.data() + s, e - s);
    });
  }
  /// Σ x in double.
  template <class T>
  static double sum(view<T, host_space> x) {
    using V = std::remove_const_t<T>;
    return reduce(x.data(), x.size(), [](const V* p, index_t n) { return dsum(n, [p](index_t i) { return p[i]; }); });
  }
  /// Σ x² in double.
  template <class T>
  static double sum_squares(view<T, host_space> x) {
    using V = std::remove_const_t<T>;
    return reduce(x.data(), x.size(), [](const V* p, index_t n) {
      return dsum(n, [p](index_t i) { return static_cast<double>(p[i]) * p[i]; });
    });
  }
  /// host span ← backend view (same element count).
  template <class U, class T>
    requires std::is_same_v<std::remove_const_t<T>, U>
  static void to_host(std::span<U> out, view<T, host_space> in) {
    RLHF_EXPECTS(static_cast<index_t>(out.size()) == in.size(), "to_host: the host span holds ", out.size(),
                 " elements but the view ", shape_string(in.extents()), " holds ", in.size(),
                 "; size the destination to the view");
    if (!out.empty()) std::memcpy(static_cast<void*>(out.data()), in.data(), out.size() * sizeof(U));
  }
  /// backend view ← host span (same element count).
  template <class T>
  static void from_host(out_view<T> out, std::type_identity_t<std::span<const T>> in) {
    RLHF_EXPECTS(static_cast<index_t>(in.size()) == out.size(), "from_host: the host span holds ", in.size(),
                 " elements but the view ", shape_string(out.extents()), " holds ", out.size(),
                 "; size the source to the view");
    if (!in.empty()) std::memcpy(static_cast<void*>(out.data()), in.data(), in.size() * sizeof(T));
  }

 private:
  template <class T, class F>
  static double reduce(const T* p, index_t n, F&& f) {
    const index_t chunks = (n + chunk - 1) / chunk;
    std::vector<double> partial(static_cast<std::size_t>(chunks), 0.0);
    parallel_chunks(chunks, 1, [&](index_t c0, index_t c1) {
      for (index_t c = c0; c < c1; ++c)
        partial[static_cast<std::size_t>(c)] = f(p + c * chunk, std::min(n, (c + 1) * chunk) - c * chunk);
    });
    double s = 0.0;
    for (double v : partial) s += v;
    return s;
  }
};

}  // namespace rlhf::backend::eigen_detail
