// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Thrust backend, layer normalisation (Ba, Kiros & Hinton 2016, eq. 4) over the last
/// dimension, forward and backward. Row statistics are accumulated in double; the population
/// variance is used, as in GPT-2. The backward pass computes dinp one row per task and dw, db
/// one column per task, so every sum has a fixed order (deterministic under OMP and CUDA).
// IWYU pragma: private
#include <cmath>

#include "rlhf/backend/thrust/common.hpp"

namespace rlhf::backend::thrust_detail {

template <class S>
struct layernorm_kernels {
  /// out = (x - μ)·rstd·w + b per row of C; saves μ and rstd (one per row). bias may be empty.
  template <class T>
  static void layernorm_forward(out_view<T, S> out, out_view<T, S> mean, out_view<T, S> rstd,
                                in_view<T, S> inp, in_view<T, S> weight, in_view<T, S> bias,
                                scalar<T> eps) {
    expect_shape(out.extents(), inp.extents(), "layernorm_forward: out");
    const index_t n = inp.rows(), c = inp.cols();
    expect_shape(weight.extents(), shape{c}, "layernorm_forward: weight");
    if (!bias.empty()) expect_shape(bias.extents(), shape{c}, "layernorm_forward: bias");
    RLHF_EXPECTS(mean.size() == n && rstd.size() == n, "layernorm_forward: mean and rstd hold ",
                 mean.size(), " and ", rstd.size(), " values; they need one per row (", n, ")");
    RLHF_EXPECTS(eps > T(0), "layernorm_forward: eps is ", eps, "; it must be > 0");
    if (inp.empty()) return;
    T* o = out.data();
    T* pm = mean.data();
    T* pr = rstd.data();
    const T* x = inp.data();
    const T* w = weight.data();
    const T* b = data_or_null(bias);
    for_n<S>(n, [=] RLHF_HOST_DEVICE(index_t r) {
      using std::sqrt;
      const T* xr = x + r * c;
      double s = 0.0;
      for (index_t j = 0; j < c; ++j) s += xr[j];
      const double mu = s / static_cast<double>(c);
      double v = 0.0;
      for (index_t j = 0; j < c; ++j) v += (xr[j] - mu) * (xr[j] - mu);
      const double rs = 1.0 / sqrt(v / static_cast<double>(c) + static_cast<double>(eps));
      T* orow = o + r * c;
      for (index_t j = 0; j < c; ++j)
        orow[j] = static_cast<T>((xr[j] - mu) * rs) * w[j] + (b ? b[j] : T(0));
      pm[r] = static_cast<T>(mu);
      pr[r] = static_cast<T>(rs);
    });
  }

  /// dinp += (dn - mean(dn) - n·mean(dn ⊙ n))·rstd with n = (x - μ)·rstd and dn = w ⊙ dout;
  /// dw += Σ_rows dout ⊙ n; db += Σ_rows dout.
  template <class T>
  static void layernorm_backward(out_view<T, S> dinp, out_view<T, S> dweight, out_view<T, S> dbias,
                                 in_view<T, S> dout, in_view<T, S> inp, in_view<T, S> weight,
                                 in_view<T, S> mean, in_view<T, S> rstd) {
    const index_t n = inp.rows(), c = inp.cols();
    expect_shape(dout.extents(), inp.extents(), "layernorm_backward: dout");
    expect_shape(weight.extents(), shape{c}, "layernorm_backward: weight");
    RLHF_EXPECTS(mean.size() == n && rstd.size() == n, "layernorm_backward: mean and rstd hold ",
                 mean.size(), " and ", rstd.size(), " values; they need one per row (", n,
                 "), as saved by layernorm_forward");
    if (!dinp.empty()) expect_shape(dinp.extents(), inp.extents(), "layernorm_backward: dinp");
    if (!dweight.empty()) expect_shape(dweight.extents(), shape{c}, "layernorm_backward: dweight");
    if (!dbias.empty()) expect_shape(dbias.extents(), shape{c}, "layernorm_backward: dbias");
    if (inp.empty()) return;
    const T* g = dout.data();
    const T* x = inp.data();
    const T* w = weight.data();
    const T* pm = mean.data();
    const T* pr = rstd.data();
    if (!dinp.empty()) {
      T* dx = dinp.data();
      for_n<S>(n, [=] RLHF_HOST_DEVICE(index_t r) {
        const T* xr = x + r * c;
        const T* gr = g + r * c;
        const double mu = pm[r], rs = pr[r];
        double dn_mean = 0.0, dn_n_mean = 0.0;
        for (index_t j = 0; j < c; ++j) {
          const double dn = static_cast<double>(w[j]) * gr[j];
          dn_mean += dn;
          dn_n_mean += dn * (xr[j] - mu) * rs;
        }
        dn_mean /= static_cast<double>(c);
        dn_n_mean /= static_cast<double>(c);
        T* dr = dx + r * c;
        for (index_t j = 0; j < c; ++j) {
          const double nj = (xr[j] - mu) * rs;
          const double dn = static_cast<double>(w[j]) * gr[j];
          dr[j] += static_cast<T>((dn - dn_mean - nj * dn_n_mean) * rs);
        }
      });
    }
    if (!dweight.empty() || !dbias.empty()) {
      T* dw = data_or_null(dweight);
      T* db = data_or_null(dbias);
      for_n<S>(c, [=] RLHF_HOST_DEVICE(index_t j) {
        double sw = 0.0, sb = 0.0;
        for (index_t r = 0; r < n; ++r) {
          const double gj = g[r * c + j];
          sw += gj * (x[r * c + j] - static_cast<double>(pm[r])) * pr[r];
          sb += gj;
        }
        if (dw) dw[j] += static_cast<T>(sw);
        if (db) db[j] += static_cast<T>(sb);
      });
    }
  }
};

}  // namespace rlhf::backend::thrust_detail
