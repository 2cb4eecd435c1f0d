// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Element-wise kernels of the thrust backend: fill, copy, axpy, scale, add, the double-precision
/// reductions sum and sum of squares, GPT-2's tanh GELU (Hendrycks & Gimpel 2016, eq. in §2 with
/// the tanh approximation) and the AdamW step (Loshchilov & Hutter 2019, Algorithm 2).
// IWYU pragma: private
#include <cmath>
#include <vector>

#include "rlhf/backend/thrust/launch.hpp"

namespace rlhf::backend::thrust_ops {

template <class S, class T>
void fill(tview<T, S> x, T a) {
  T* p = x.data();
  if (!x.empty()) for_n<S>(x.size(), [=] RLHF_HOST_DEVICE(index_t i) { p[i] = a; });
}

template <class S, class T>
void copy(tview<T, S> y, tview<const T, S> x) {
  expect_shape(x.extents(), y.extents(), "copy: source x");
  T* out = y.data();
  const T* in = x.data();
  if (!y.empty()) for_n<S>(y.size(), [=] RLHF_HOST_DEVICE(index_t i) { out[i] = in[i]; });
}

template <class S, class T>
void axpy(tview<T, S> y, T a, tview<const T, S> x) {
  expect_shape(x.extents(), y.extents(), "axpy: x");
  T* out = y.data();
  const T* in = x.data();
  if (!y.empty()) for_n<S>(y.size(), [=] RLHF_HOST_DEVICE(index_t i) { out[i] += a * in[i]; });
}

template <class S, class T>
void scale(tview<T, S> x, T a) {
  T* p = x.data();
  if (!x.empty()) for_n<S>(x.size(), [=] RLHF_HOST_DEVICE(index_t i) { p[i] *= a; });
}

template <class S, class T>
void add(tview<T, S> out, tview<const T, S> a, tview<const T, S> b) {
  expect_shape(a.extents(), out.extents(), "add: a");
  expect_shape(b.extents(), out.extents(), "add: b");
  T* o = out.data();
  const T* pa = a.data();
  const T* pb = b.data();
  if (!out.empty()) for_n<S>(out.size(), [=] RLHF_HOST_DEVICE(index_t i) { o[i] = pa[i] + pb[i]; });
}

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
  copy_to_host<S>(host.data(), static_cast<const double*>(out), chunks);
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

/// Σ x in double; the result does not depend on the number of threads.
template <class S, class T>
double sum(tview<const T, S> x) {
  return x.empty() ? 0.0 : sum_detail::chunked<S>(x.data(), x.size(), sum_detail::identity{});
}

/// Σ x² in double; the result does not depend on the number of threads.
template <class S, class T>
double sum_squares(tview<const T, S> x) {
  return x.empty() ? 0.0 : sum_detail::chunked<S>(x.data(), x.size(), sum_detail::square{});
}

// ---- GELU (tanh form) ----

namespace gelu_detail {
// sqrt(2 / pi) and the cubic coefficient of GPT-2's tanh approximation.
template <class T>
RLHF_HOST_DEVICE inline T gelu(T x) noexcept {
  using std::tanh;
  const T s = T(0.7978845608028654), c = T(0.044715);
  return T(0.5) * x * (T(1) + tanh(s * (x + c * x * x * x)));
}
template <class T>
RLHF_HOST_DEVICE inline T gelu_grad(T x) noexcept {
  using std::cosh;
  using std::tanh;
  const T s = T(0.7978845608028654), c = T(0.044715);
  const T u = s * (x + c * x * x * x);
  const T th = tanh(u);
  const T sech2 = T(1) - th * th;  // 1 - tanh² avoids cosh overflow for large |u|
  return T(0.5) * (T(1) + th) + T(0.5) * x * sech2 * s * (T(1) + T(3) * c * x * x);
}
}  // namespace gelu_detail

template <class S, class T>
void gelu_forward(tview<T, S> out, tview<const T, S> inp) {
  expect_shape(inp.extents(), out.extents(), "gelu_forward: inp");
  T* o = out.data();
  const T* x = inp.data();
  if (!out.empty())
    for_n<S>(out.size(), [=] RLHF_HOST_DEVICE(index_t i) { o[i] = gelu_detail::gelu(x[i]); });
}

template <class S, class T>
void gelu_backward(tview<T, S> dinp, tview<const T, S> dout, tview<const T, S> inp) {
  expect_shape(dout.extents(), inp.extents(), "gelu_backward: dout");
  if (dinp.empty()) return;
  expect_shape(dinp.extents(), inp.extents(), "gelu_backward: dinp");
  T* d = dinp.data();
  const T* x = inp.data();
  const T* g = dout.data();
  for_n<S>(dinp.size(),
           [=] RLHF_HOST_DEVICE(index_t i) { d[i] += gelu_detail::gelu_grad(x[i]) * g[i]; });
}

// ---- AdamW ----

template <class S, class T>
void adamw_update(tview<T, S> param, tview<const T, S> grad, tview<T, S> m, tview<T, S> v, T lr,
                  T beta1, T beta2, T eps, T weight_decay, std::int64_t step) {
  expect_shape(grad.extents(), param.extents(), "adamw_update: grad");
  expect_shape(m.extents(), param.extents(), "adamw_update: first moment m");
  expect_shape(v.extents(), param.extents(), "adamw_update: second moment v");
  RLHF_EXPECTS(step >= 1, "adamw_update: step is ", step, "; steps count from 1");
  RLHF_EXPECTS(beta1 >= T(0) && beta1 < T(1) && beta2 >= T(0) && beta2 < T(1),
               "adamw_update: beta1 = ", beta1, ", beta2 = ", beta2, "; both must lie in [0, 1)");
  RLHF_EXPECTS(lr >= T(0) && eps > T(0) && weight_decay >= T(0), "adamw_update: lr = ", lr,
               ", eps = ", eps, ", weight_decay = ", weight_decay,
               "; lr and weight_decay must be >= 0 and eps > 0");
  if (param.empty()) return;
  // Bias corrections in double: 1 - β^t underflows to 0 in float for large t only after
  // β^t < 2^-24, but pow in double keeps early steps exact.
  const T c1 = static_cast<T>(1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step)));
  const T c2 = static_cast<T>(1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step)));
  T* p = param.data();
  const T* g = grad.data();
  T* pm = m.data();
  T* pv = v.data();
  for_n<S>(param.size(), [=] RLHF_HOST_DEVICE(index_t i) {
    using std::sqrt;
    const T gi = g[i];
    const T mi = beta1 * pm[i] + (T(1) - beta1) * gi;
    const T vi = beta2 * pv[i] + (T(1) - beta2) * gi * gi;
    pm[i] = mi;
    pv[i] = vi;
    const T mhat = mi / c1, vhat = vi / c2;
    p[i] -= lr * (mhat / (sqrt(vhat) + eps) + weight_decay * p[i]);
  });
}

}  // namespace rlhf::backend::thrust_ops
