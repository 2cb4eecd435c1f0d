// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Thrust backend, row-wise softmax, log-softmax and logsumexp, forward and backward. Each row
/// is one task; the maximum is subtracted before exponentiating and sums run in double, so rows
/// of 50k logits keep float accuracy.
// IWYU pragma: private
#include <cmath>

#include "rlhf/backend/thrust/common.hpp"

namespace rlhf::backend::thrust_detail {

namespace softmax_detail {
/// A row's maximum m and Σ_j exp(x_j - m). The exponentials are taken in T (expf for float;
/// x - m is exact enough) and summed in double. Outputs are formed from x - m, never from
/// x - lse: at |x| ~ 1e4, lse rounded to float would cost four digits.
template <class T>
struct row_stats {
  T max;
  double sum;
};
template <class T>
RLHF_HOST_DEVICE inline row_stats<T> stats(const T* x, index_t v) noexcept {
  using std::exp;
  T m = x[0];
  for (index_t j = 1; j < v; ++j) m = x[j] > m ? x[j] : m;
  double s = 0.0;
  for (index_t j = 0; j < v; ++j) s += static_cast<double>(exp(x[j] - m));
  return {m, s};
}
/// log Σ_j exp(x_j) over one row of length v, in double.
template <class T>
RLHF_HOST_DEVICE inline double row_lse(const T* x, index_t v) noexcept {
  using std::log;
  const row_stats<T> st = stats(x, v);
  return static_cast<double>(st.max) + log(st.sum);
}
}  // namespace softmax_detail

template <class S>
struct softmax_kernels {
  /// out = softmax(x) over the last dimension.
  template <class T>
  static void softmax_forward(out_view<T, S> out, in_view<T, S> x) {
    expect_shape(out.extents(), x.extents(), "softmax_forward: out");
    if (x.empty()) return;
    const index_t v = x.cols();
    T* o = out.data();
    const T* in = x.data();
    for_n<S>(x.rows(), [=] RLHF_HOST_DEVICE(index_t r) {
      using std::exp;
      const auto st = softmax_detail::stats(in + r * v, v);
      const double inv = 1.0 / st.sum;
      for (index_t j = 0; j < v; ++j)
        o[r * v + j] = static_cast<T>(static_cast<double>(exp(in[r * v + j] - st.max)) * inv);
    });
  }

  /// dx += p ⊙ (dout - ⟨dout, p⟩) per row, with p the saved softmax output.
  template <class T>
  static void softmax_backward(out_view<T, S> dx, in_view<T, S> dout, in_view<T, S> probs) {
    expect_shape(dout.extents(), probs.extents(), "softmax_backward: dout");
    if (dx.empty()) return;
    expect_shape(dx.extents(), probs.extents(), "softmax_backward: dx");
    const index_t v = dx.cols();
    T* d = dx.data();
    const T* p = probs.data();
    const T* g = dout.data();
    for_n<S>(dx.rows(), [=] RLHF_HOST_DEVICE(index_t r) {
      double dot = 0.0;
      for (index_t j = 0; j < v; ++j) dot += static_cast<double>(g[r * v + j]) * p[r * v + j];
      for (index_t j = 0; j < v; ++j)
        d[r * v + j] += static_cast<T>(p[r * v + j] * (g[r * v + j] - dot));
    });
  }

  /// out = log softmax(x) = x - m - log Σ exp(x - m) over the last dimension.
  template <class T>
  static void log_softmax_forward(out_view<T, S> out, in_view<T, S> x) {
    expect_shape(out.extents(), x.extents(), "log_softmax_forward: out");
    if (x.empty()) return;
    const index_t v = x.cols();
    T* o = out.data();
    const T* in = x.data();
    for_n<S>(x.rows(), [=] RLHF_HOST_DEVICE(index_t r) {
      using std::log;
      const auto st = softmax_detail::stats(in + r * v, v);
      const double log_sum = log(st.sum);
      for (index_t j = 0; j < v; ++j)
        o[r * v + j] = static_cast<T>(static_cast<double>(in[r * v + j] - st.max) - log_sum);
    });
  }

  /// dx += dout - softmax(x)·Σ dout per row, with softmax(x) = exp(logp) from the saved output.
  template <class T>
  static void log_softmax_backward(out_view<T, S> dx, in_view<T, S> dout, in_view<T, S> logp) {
    expect_shape(dout.extents(), logp.extents(), "log_softmax_backward: dout");
    if (dx.empty()) return;
    expect_shape(dx.extents(), logp.extents(), "log_softmax_backward: dx");
    const index_t v = dx.cols();
    T* d = dx.data();
    const T* lp = logp.data();
    const T* g = dout.data();
    for_n<S>(dx.rows(), [=] RLHF_HOST_DEVICE(index_t r) {
      using std::exp;
      double s = 0.0;
      for (index_t j = 0; j < v; ++j) s += g[r * v + j];
      for (index_t j = 0; j < v; ++j)
        d[r * v + j] += static_cast<T>(g[r * v + j] - exp(static_cast<double>(lp[r * v + j])) * s);
    });
  }

  /// out (N) = log Σ_v exp x[n, v].
  template <class T>
  static void logsumexp_forward(out_view<T, S> out, in_view<T, S> x) {
    expect_one_per(out.size(), x.rows(), "logsumexp_forward", "out", "row of x");
    if (x.empty()) return;
    const index_t v = x.cols();
    T* o = out.data();
    const T* in = x.data();
    for_n<S>(x.rows(), [=] RLHF_HOST_DEVICE(index_t r) {
      o[r] = static_cast<T>(softmax_detail::row_lse(in + r * v, v));
    });
  }

  /// dx += dout_n · softmax(x_n) = dout_n · exp(x - lse_n), with lse the saved output.
  template <class T>
  static void logsumexp_backward(out_view<T, S> dx, in_view<T, S> dout, in_view<T, S> x,
                                 in_view<T, S> lse) {
    RLHF_EXPECTS(lse.size() == x.rows() && dout.size() == x.rows(),
                 "logsumexp_backward: lse and dout hold ", lse.size(), " and ", dout.size(),
                 " values; they need one per row of x (", x.rows(), ")");
    if (dx.empty()) return;
    expect_shape(dx.extents(), x.extents(), "logsumexp_backward: dx");
    const index_t v = x.cols();
    T* d = dx.data();
    const T* in = x.data();
    const T* l = lse.data();
    const T* g = dout.data();
    for_n<S>(x.rows(), [=] RLHF_HOST_DEVICE(index_t r) {
      using std::exp;
      const double lr = l[r], gr = g[r];
      for (index_t j = 0; j < v; ++j) d[r * v + j] += static_cast<T>(gr * exp(in[r * v + j] - lr));
    });
  }
};

}  // namespace rlhf::backend::thrust_detail
