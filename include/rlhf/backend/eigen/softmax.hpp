// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Eigen backend, softmax / log-softmax / logsumexp over the last dimension. Max-subtracted
/// (finite for logits of ±1e4), exponentials vectorised in T, row sums accumulated in double.
/// A row that is entirely -inf has lse = -inf, log-softmax -inf and softmax 0 (no NaN).
// IWYU pragma: private
#include <cmath>
#include <limits>
#include <vector>

#include "rlhf/backend/eigen/common.hpp"

namespace rlhf::backend::eigen_detail {

struct softmax_kernels {
  /// out = softmax(x) per row.
  template <class T>
  static void softmax_forward(out_view<T> out, in_view<T> x) {
    expect_same(out, x, "softmax_forward: out");
    const index_t V = x.cols();
    parallel_chunks(x.rows(), row_grain(V), [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        const auto xr = const_array_map<T>(x.data() + r * V, V);
        auto o = array_map<T>(out.data() + r * V, V);
        const T m = V ? xr.maxCoeff() : T(0);
        if (m == -std::numeric_limits<T>::infinity()) {
          o.setZero();
          continue;
        }
        o = (xr - m).exp();
        const T* e = o.data();
        o *= static_cast<T>(1.0 / dsum(V, [e](index_t i) { return e[i]; }));
      }
    });
  }
  /// dx += p ⊙ (dout - ⟨dout, p⟩) with p = softmax output. Order: dx, dout, p.
  template <class T>
  static void softmax_backward(out_view<T> dx, in_view<T> dout, in_view<T> probs) {
    expect_same(dout, probs, "softmax_backward: dout");
    if (dx.empty()) return;
    expect_same(dx, probs, "softmax_backward: dx");
    const index_t V = probs.cols();
    parallel_chunks(probs.rows(), row_grain(V), [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        const auto p = const_array_map<T>(probs.data() + r * V, V);
        const auto g = const_array_map<T>(dout.data() + r * V, V);
        const T dot = static_cast<T>(dsum(V, [&](index_t i) { return static_cast<double>(p[i]) * g[i]; }));
        array_map<T>(dx.data() + r * V, V) += p * (g - dot);
      }
    });
  }
  /// out = x - logsumexp(x) per row.
  template <class T>
  static void log_softmax_forward(out_view<T> out, in_view<T> x) {
    expect_same(out, x, "log_softmax_forward: out");
    const index_t V = x.cols();
    parallel_chunks(x.rows(), row_grain(V), [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        const auto xr = const_array_map<T>(x.data() + r * V, V);
        auto o = array_map<T>(out.data() + r * V, V);
        const T lse = row_lse(xr, o);  // o is the scratch row here, overwritten next
        if (lse == -std::numeric_limits<T>::infinity())
          o.setConstant(-std::numeric_limits<T>::infinity());
        else
          o = xr - lse;
      }
    });
  }
  /// dx += dout - softmax(x) · Σ dout, with softmax = exp(logp). Order: dx, dout, logp.
  template <class T>
  static void log_softmax_backward(out_view<T> dx, in_view<T> dout, in_view<T> logp) {
    expect_same(dout, logp, "log_softmax_backward: dout");
    if (dx.empty()) return;
    expect_same(dx, logp, "log_softmax_backward: dx");
    const index_t V = logp.cols();
    parallel_chunks(logp.rows(), row_grain(V), [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        const auto lp = const_array_map<T>(logp.data() + r * V, V);
        const auto g = const_array_map<T>(dout.data() + r * V, V);
        const T s = static_cast<T>(dsum(V, [&](index_t i) { return g[i]; }));
        array_map<T>(dx.data() + r * V, V) += g - lp.exp() * s;
      }
    });
  }
  /// out (N) = log Σ_v exp x[n, v].
  template <class T>
  static void logsumexp_forward(out_view<T> out, in_view<T> x) {
    expect_size(out, x.rows(), "logsumexp_forward: out");
    const index_t V = x.cols();
    parallel_chunks(x.rows(), row_grain(V), [&](index_t r0, index_t r1) {
      Eigen::Array<T, Eigen::Dynamic, 1> scratch(V);
      for (index_t r = r0; r < r1; ++r) out.data()[r] = row_lse(const_array_map<T>(x.data() + r * V, V), scratch);
    });
  }
  /// dx += dout_n · softmax(x)_n, softmax recomputed as exp(x - lse). Order: dx, dout, x, lse.
  template <class T>
  static void logsumexp_backward(out_view<T> dx, in_view<T> dout, in_view<T> x, in_view<T> lse) {
    expect_size(dout, x.rows(), "logsumexp_backward: dout");
    expect_size(lse, x.rows(), "logsumexp_backward: lse");
    if (dx.empty()) return;
    expect_same(dx, x, "logsumexp_backward: dx");
    const index_t V = x.cols();
    parallel_chunks(x.rows(), row_grain(V), [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        if (lse.data()[r] == -std::numeric_limits<T>::infinity()) continue;
        array_map<T>(dx.data() + r * V, V) +=
            dout.data()[r] * (const_array_map<T>(x.data() + r * V, V) - lse.data()[r]).exp();
      }
    });
  }

  /// log Σ exp(x) of one row: max-subtracted, exponentials in T, the sum in double.
  /// `scratch` (same length) receives exp(x - max).
  template <class T, class Scratch>
  static T row_lse(const const_array_map<T>& x, Scratch&& scratch) {
    if (x.size() == 0) return -std::numeric_limits<T>::infinity();
    const T m = x.maxCoeff();
    if (m == -std::numeric_limits<T>::infinity() || std::isnan(m) || m == std::numeric_limits<T>::infinity()) return m;
    scratch = (x - m).exp();
    const T* e = scratch.data();
    return static_cast<T>(static_cast<double>(m) + std::log(dsum(x.size(), [e](index_t i) { return e[i]; })));
  }
};

}  // namespace rlhf::backend::eigen_detail
