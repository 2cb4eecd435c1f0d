// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Thrust backend, memory and BLAS-1 kernels: fill, copy, axpy, scale, add, the double-precision
/// reductions sum and sum_squares, and the host transfers to_host / from_host.
// IWYU pragma: private
#include <span>
#include <type_traits>
#include <vector>

#include "rlhf/backend/thrust/common.hpp"

namespace rlhf::backend::thrust_detail {

namespace sum_detail {
// Elements per partial sum. The partials are fixed by the size alone and added in order on the
// host, so sums do not depend on the thread count (thrust's own reduce splits by threads).
inline constexpr index_t chunk = 1 << 13;

/// Σ f(x_i) in double over n elements of system memory, thread-count independent.
template <class S, class T, class F>
double chunked(const T* p, index_t n, F f) {
  if (n <= 0) return 0.0;
  const index_t chunks = (n + chunk - 1) / chunk;
  typename system_traits<S>::template vector<double> partial(static_cast<std::size_t>(chunks));
  double* out = ::thrust::raw_pointer_cast(partial.data());
  for_n<S>(chunks, [=] RLHF_HOST_DEVICE(index_t c) {
    const index_t end = (c + 1) * chunk < n ? (c + 1) * chunk : n;
    double s = 0.0;
    for (index_t i = c * chunk; i < end; ++i) s += f(static_cast<double>(p[i]));
    out[c] = s;
  });
  std::vector<double> host(static_cast<std::size_t>(chunks));
  transfer<direction::to_host, S>(host.data(), static_cast<const double*>(out), chunks);
  double total = 0.0;
  for (double v : host) total += v;
  return total;
}
struct identity {
  RLHF_HOST_DEVICE double operator()(double v) const noexcept { return v; }
};
struct square {
  RLHF_HOST_DEVICE double operator()(double v) const noexcept { return v * v; }
};
}  // namespace sum_detail

/// Element-wise kernels and reductions on the views of system S, one task per element (one per
/// chunk of 8192 for the reductions).
template <class S>
struct memory_kernels {
  /// x = a.
  template <class T>
  static void fill(out_view<T, S> x, scalar<T> a) {
    T* p = x.data();
    if (!x.empty()) for_n<S>(x.size(), [=] RLHF_HOST_DEVICE(index_t i) { p[i] = a; });
  }
  /// y = x.
  template <class T>
  static void copy(out_view<T, S> y, in_view<T, S> x) {
    expect_shape(x.extents(), y.extents(), "copy: source x");
    T* out = y.data();
    const T* in = x.data();
    if (!y.empty()) for_n<S>(y.size(), [=] RLHF_HOST_DEVICE(index_t i) { out[i] = in[i]; });
  }
  /// y += a·x.
  template <class T>
  static void axpy(out_view<T, S> y, scalar<T> a, in_view<T, S> x) {
    expect_shape(x.extents(), y.extents(), "axpy: x");
    T* out = y.data();
    const T* in = x.data();
    if (!y.empty()) for_n<S>(y.size(), [=] RLHF_HOST_DEVICE(index_t i) { out[i] += a * in[i]; });
  }
  /// x *= a.
  template <class T>
  static void scale(out_view<T, S> x, scalar<T> a) {
    T* p = x.data();
    if (!x.empty()) for_n<S>(x.size(), [=] RLHF_HOST_DEVICE(index_t i) { p[i] *= a; });
  }
  /// out = a + b (out may alias a or b).
  template <class T>
  static void add(out_view<T, S> out, in_view<T, S> a, in_view<T, S> b) {
    expect_shape(a.extents(), out.extents(), "add: a");
    expect_shape(b.extents(), out.extents(), "add: b");
    T* o = out.data();
    const T* pa = a.data();
    const T* pb = b.data();
    if (!out.empty()) for_n<S>(out.size(), [=] RLHF_HOST_DEVICE(index_t i) { o[i] = pa[i] + pb[i]; });
  }

  /// Σ x in double; the result does not depend on the number of threads. Takes const and
  /// mutable views (also with T given explicitly).
  template <class T>
  static double sum(view<const T, thrust_space<S>> x) { return reduce(x, sum_detail::identity{}); }
  template <class T>
  static double sum(view<T, thrust_space<S>> x) { return reduce(x, sum_detail::identity{}); }
  /// Σ x² in double; the result does not depend on the number of threads.
  template <class T>
  static double sum_squares(view<const T, thrust_space<S>> x) { return reduce(x, sum_detail::square{}); }
  template <class T>
  static double sum_squares(view<T, thrust_space<S>> x) { return reduce(x, sum_detail::square{}); }

  /// out = x, from the memory of S to host memory; sizes must agree.
  template <class T>
  static void to_host(std::span<T> out, in_view<T, S> x) {
    RLHF_EXPECTS(static_cast<index_t>(out.size()) == x.size(), "to_host: the host span holds ",
                 out.size(), " elements but the view has ", x.size(), "; size them equally");
    transfer<direction::to_host, S>(out.data(), x.data(), x.size());
  }
  /// x = in, from host memory to the memory of S; sizes must agree.
  template <class T>
  static void from_host(out_view<T, S> x, std::type_identity_t<std::span<const T>> in) {
    RLHF_EXPECTS(static_cast<index_t>(in.size()) == x.size(), "from_host: the host span holds ",
                 in.size(), " elements but the view has ", x.size(), "; size them equally");
    transfer<direction::from_host, S>(x.data(), in.data(), x.size());
  }

 private:
  template <class T, class F>
  static double reduce(view<T, thrust_space<S>> x, F f) {
    return x.empty() ? 0.0 : sum_detail::chunked<S>(x.data(), x.size(), f);
  }
};

}  // namespace rlhf::backend::thrust_detail
