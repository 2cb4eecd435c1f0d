// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Thrust backend, per-row read-outs of an (N, V) matrix on the system: the entry of a given
/// column (pick, and its scatter-add backward) and the row maximum with its column (row_max),
/// one task per row. Semantics as rlhf/backend/eigen/pick.hpp.
// IWYU pragma: private
#include <cstdint>
#include <limits>

#include "rlhf/backend/thrust/common.hpp"

namespace rlhf::backend::thrust_detail {

template <class S>
struct pick_kernels {
  /// out_n = x[n, idx_n]; a negative idx_n ignores row n (out_n = 0).
  template <class T>
  static void pick_forward(out_view<T, S> out, in_view<T, S> x, index_view<S> idx) {
    const index_t n = x.rows(), v = x.cols();
    expect_one_per(out.size(), n, "pick_forward", "out", "row of x");
    check_columns(idx, n, v, "pick_forward");
    const std::int32_t* c = idx.data();
    const T* in = x.data();
    T* o = out.data();
    for_n<S>(n, [=] RLHF_HOST_DEVICE(index_t r) { o[r] = c[r] < 0 ? T(0) : in[r * v + c[r]]; });
  }

  /// dx[n, idx_n] += dout_n; rows with a negative idx_n get nothing. One task per row, so
  /// no two tasks write the same entry.
  template <class T>
  static void pick_backward(out_view<T, S> dx, in_view<T, S> dout, index_view<S> idx) {
    if (dx.empty()) return;
    const index_t n = dx.rows(), v = dx.cols();
    expect_one_per(dout.size(), n, "pick_backward", "dout", "row of dx");
    check_columns(idx, n, v, "pick_backward");
    const std::int32_t* c = idx.data();
    const T* g = dout.data();
    T* d = dx.data();
    for_n<S>(n, [=] RLHF_HOST_DEVICE(index_t r) {
      if (c[r] >= 0) d[r * v + c[r]] += g[r];
    });
  }

  /// out_n = max_v x[n, v], argmax_n = the lowest v attaining it.
  template <class T>
  static void row_max_forward(out_view<T, S> out, view<std::int32_t, thrust_space<S>> argmax, in_view<T, S> x) {
    const index_t n = x.rows(), v = x.cols();
    RLHF_EXPECTS(v > 0, "row_max_forward: x has no columns; a row maximum needs V >= 1");
    expect_one_per(out.size(), n, "row_max_forward", "out", "row of x");
    expect_one_per(argmax.size(), n, "row_max_forward", "argmax", "row of x");
    const T* in = x.data();
    T* o = out.data();
    std::int32_t* a = argmax.data();
    for_n<S>(n, [=] RLHF_HOST_DEVICE(index_t r) {
      const T* row = in + r * v;
      index_t best = 0;
      for (index_t j = 1; j < v; ++j)
        if (row[j] > row[best]) best = j;  // strict: the lowest index wins ties
      o[r] = row[best];
      a[r] = static_cast<std::int32_t>(best);
    });
  }

  static void check_columns(index_view<S> idx, index_t n, index_t v, const char* kernel) {
    RLHF_EXPECTS(idx.size() == n, kernel, ": ", idx.size(), " column indices for ", n,
                 " rows; pass one per row (-1 to ignore a row)");
    expect_ids_in_range<S>(idx.data(), n, std::numeric_limits<std::int32_t>::min(), v, kernel, "idx",
                           "indices must be in [0, V) or negative to ignore the row");
  }
};

}  // namespace rlhf::backend::thrust_detail
