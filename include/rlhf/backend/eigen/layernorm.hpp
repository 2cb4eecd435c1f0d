// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Eigen backend, layer normalisation (Ba, Kiros & Hinton 2016) as in GPT-2:
/// out = (x - μ) · rstd · w + b per row of C, rstd = 1/sqrt(var + ε) with the biased variance.
/// Row statistics are accumulated in double (two passes: mean, then Σ (x - μ)²).
// IWYU pragma: private
#include <cmath>

#include "rlhf/backend/eigen/common.hpp"

namespace rlhf::backend::eigen_detail {

struct layernorm_kernels {
  /// out (N,C), mean (N), rstd (N) from inp (N,C), weight (C), bias (C; empty: none). mean/rstd
  /// may be empty (inference: nothing is saved).
  template <class T>
  static void layernorm_forward(out_view<T> out, out_view<T> mean, out_view<T> rstd, in_view<T> inp,
                                in_view<T> weight, in_view<T> bias, scalar<T> eps) {
    const index_t N = inp.rows(), C = inp.cols();
    expect_same(out, inp, "layernorm_forward: out");
    expect_shape(weight.extents(), shape{C}, "layernorm_forward: weight");
    if (!bias.empty()) expect_shape(bias.extents(), shape{C}, "layernorm_forward: bias");
    if (!mean.empty()) expect_size(mean, N, "layernorm_forward: mean");
    if (!rstd.empty()) expect_size(rstd, N, "layernorm_forward: rstd");
    RLHF_EXPECTS(eps > T(0) && std::isfinite(eps), "layernorm_forward: eps is ", eps, "; it must be positive (1e-5 in GPT-2)");
    if (C == 0) return;
    parallel_chunks(N, row_grain(C), [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        const T* x = inp.data() + r * C;
        const double m = dsum(C, [x](index_t i) { return x[i]; }) / static_cast<double>(C);
        const double v = dsum(C, [x, m](index_t i) { return (x[i] - m) * (x[i] - m); }) / static_cast<double>(C);
        const double s = 1.0 / std::sqrt(v + static_cast<double>(eps));
        const T mt = static_cast<T>(m), st = static_cast<T>(s);
        auto o = array_map<T>(out.data() + r * C, C);
        const auto xr = const_array_map<T>(x, C);
        if (bias.empty())
          o = (xr - mt) * st * const_array_map<T>(weight.data(), C);
        else
          o = (xr - mt) * st * const_array_map<T>(weight.data(), C) + const_array_map<T>(bias.data(), C);
        if (!mean.empty()) mean.data()[r] = mt;
        if (!rstd.empty()) rstd.data()[r] = st;
      }
    });
  }

  /// dinp += ∂L/∂inp, dweight += Σ_rows dout ⊙ x̂, dbias += Σ_rows dout, with x̂ = (x - μ)·rstd
  /// and μ, rstd saved by the forward pass (llm.c's closed form of the backward).
  template <class T>
  static void layernorm_backward(out_view<T> dinp, out_view<T> dweight, out_view<T> dbias, in_view<T> dout,
                                 in_view<T> inp, in_view<T> weight, in_view<T> mean, in_view<T> rstd) {
    const index_t N = inp.rows(), C = inp.cols();
    expect_same(dout, inp, "layernorm_backward: dout");
    expect_shape(weight.extents(), shape{C}, "layernorm_backward: weight");
    expect_size(mean, N, "layernorm_backward: mean");
    expect_size(rstd, N, "layernorm_backward: rstd");
    if (!dinp.empty()) expect_same(dinp, inp, "layernorm_backward: dinp");
    if (!dweight.empty()) expect_shape(dweight.extents(), shape{C}, "layernorm_backward: dweight");
    if (!dbias.empty()) expect_shape(dbias.extents(), shape{C}, "layernorm_backward: dbias");
    if (C == 0 || N == 0) return;
    const T* w = weight.data();
    if (!dinp.empty())
      parallel_chunks(N, row_grain(C), [&](index_t r0, index_t r1) {
        for (index_t r = r0; r < r1; ++r) {
          const T* x = inp.data() + r * C;
          const T* g = dout.data() + r * C;
          const double m = mean.data()[r], s = rstd.data()[r];
          // Means of w⊙g and of w⊙g⊙x̂, in double.
          const double dm = dsum(C, [&](index_t i) { return static_cast<double>(w[i]) * g[i]; }) / static_cast<double>(C);
          const double dnm =
              dsum(C, [&](index_t i) { return static_cast<double>(w[i]) * g[i] * ((x[i] - m) * s); }) /
              static_cast<double>(C);
          const T mt = static_cast<T>(m), st = static_cast<T>(s), dmt = static_cast<T>(dm), dnmt = static_cast<T>(dnm);
          array_map<T>(dinp.data() + r * C, C) +=
              (const_array_map<T>(w, C) * const_array_map<T>(g, C) - dmt -
               (const_array_map<T>(x, C) - mt) * st * dnmt) * st;
        }
      });
    if (!dweight.empty() || !dbias.empty()) {
      // One pass for both reductions: acc[0, C) = Σ g·x̂, acc[C, 2C) = Σ g.
      const auto s = column_sums(N, 2 * C, [&](index_t r, double* acc) {
        const T* x = inp.data() + r * C;
        const T* g = dout.data() + r * C;
        const double m = mean.data()[r], rs = rstd.data()[r];
        for (index_t i = 0; i < C; ++i) {
          acc[i] += static_cast<double>(g[i]) * (x[i] - m) * rs;
          acc[C + i] += g[i];
        }
      });
      for (index_t i = 0; i < C; ++i) {
        if (!dweight.empty()) dweight.data()[i] += static_cast<T>(s[static_cast<std::size_t>(i)]);
        if (!dbias.empty()) dbias.data()[i] += static_cast<T>(s[static_cast<std::size_t>(C + i)]);
      }
    }
  }
};

}  // namespace rlhf::backend::eigen_detail
