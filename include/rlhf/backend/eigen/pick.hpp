// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Eigen backend, per-row read-outs of an (N, V) matrix that never leave the backend: the entry
/// of a given column (pick) and the row maximum with its column (row_max). A token reward model
/// (FaRMA, Rashid et al. 2025) needs exactly these: r(s, a^{≤i}) = R(s, a^{<i})[a^i] and
/// max_v R(s, a^{≤i})[v], one number per position instead of V.
// IWYU pragma: private
#include <cstdint>

#include "rlhf/backend/eigen/common.hpp"

namespace rlhf::backend::eigen_detail {

struct pick_kernels {
  /// out_n = x[n, idx_n]; a negative idx_n ignores row n (out_n = 0). Order: out, x, idx.
  template <class T>
  static void pick_forward(out_view<T> out, in_view<T> x, index_view idx) {
    const index_t N = x.rows(), V = x.cols();
    expect_size(out, N, "pick_forward: out");
    check_columns(idx, N, V, "pick_forward");
    for (index_t r = 0; r < N; ++r) {
      const std::int32_t c = idx.data()[r];
      out.data()[r] = c < 0 ? T(0) : x.data()[r * V + c];
    }
  }

  /// dx[n, idx_n] += dout_n (rows with a negative idx_n get nothing): the backward of
  /// pick_forward, and of row_max_forward with idx = its argmax. Order: dx, dout, idx.
  template <class T>
  static void pick_backward(out_view<T> dx, in_view<T> dout, index_view idx) {
    if (dx.empty()) return;
    const index_t N = dx.rows(), V = dx.cols();
    expect_size(dout, N, "pick_backward: dout");
    check_columns(idx, N, V, "pick_backward");
    for (index_t r = 0; r < N; ++r) {
      const std::int32_t c = idx.data()[r];
      if (c >= 0) dx.data()[r * V + c] += dout.data()[r];
    }
  }

  /// out_n = max_v x[n, v] and argmax_n = the lowest v attaining it (a deterministic
  /// subgradient at ties). Order: out, argmax, x.
  template <class T>
  static void row_max_forward(out_view<T> out, view<std::int32_t, host_space> argmax, in_view<T> x) {
    const index_t N = x.rows(), V = x.cols();
    RLHF_EXPECTS(V > 0, "row_max_forward: x has no columns; a row maximum needs V >= 1");
    expect_size(out, N, "row_max_forward: out");
    expect_size(argmax, N, "row_max_forward: argmax");
    parallel_chunks(N, row_grain(V), [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        const T* row = x.data() + r * V;
        index_t best = 0;
        for (index_t v = 1; v < V; ++v)
          if (row[v] > row[best]) best = v;  // strict: the lowest index wins ties
        out.data()[r] = row[best];
        argmax.data()[r] = static_cast<std::int32_t>(best);
      }
    });
  }

 private:
  static void check_columns(index_view idx, index_t N, index_t V, const char* kernel) {
    RLHF_EXPECTS(idx.size() == N, kernel, ": ", idx.size(), " column indices for ", N,
                 " rows; pass one per row (-1 to ignore a row)");
    for (index_t i = 0; i < N; ++i)
      RLHF_EXPECTS(idx.data()[i] < V, kernel, ": column index ", idx.data()[i], " at row ", i,
                   " is outside [0, ", V, "); indices must be in [0, V) or negative to ignore the row");
  }
};

}  // namespace rlhf::backend::eigen_detail
