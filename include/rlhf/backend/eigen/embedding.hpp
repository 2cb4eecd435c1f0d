// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Eigen backend, row lookups: the GPT-2 input embedding out = wte[tok] + wpe[pos] and its
/// deterministic scatter-add backward, and gather_rows / scatter_add_rows (prompt-row
/// broadcast for k samples per prompt, final-token pooling).
///
/// The backward groups the rows by index with a stable counting sort, then each distinct index
/// sums its rows in double, in increasing row order, and adds the sum once: no atomics, the same
/// bits for any thread count, and no float drift when a token repeats thousands of times.
// IWYU pragma: private
#include <vector>

#include "rlhf/backend/eigen/common.hpp"

namespace rlhf::backend::eigen_detail {

struct embedding_kernels {
  /// out (N,C) = wte[tokens[n]] + wpe[positions[n]]. tokens may have any shape of N elements
  /// ((B,T) for a batch). wpe empty: no position term. positions empty (wpe given): n mod T,
  /// T = tokens.cols() (every row starts at position 0).
  template <class T>
  static void embedding_forward(out_view<T> out, in_view<T> wte, in_view<T> wpe, index_view tokens,
                                index_view positions) {
    const index_t N = tokens.size(), C = wte.cols();
    check<T>(out.rows(), out.cols(), wte, wpe, tokens, positions, "embedding_forward", "out");
    const index_t T_ = std::max<index_t>(tokens.cols(), 1);
    parallel_chunks(N, row_grain(C), [&](index_t r0, index_t r1) {
      for (index_t n = r0; n < r1; ++n) {
        auto o = array_map<T>(out.data() + n * C, C);
        o = const_array_map<T>(wte.data() + tokens.data()[n] * C, C);
        if (!wpe.empty())
          o += const_array_map<T>(wpe.data() + position(positions, n, T_) * C, C);
      }
    });
  }

  /// dwte[tokens[n]] += dout[n], dwpe[positions[n]] += dout[n] (either may be empty).
  template <class T>
  static void embedding_backward(out_view<T> dwte, out_view<T> dwpe, in_view<T> dout, index_view tokens,
                                 index_view positions) {
    const index_t N = tokens.size(), C = dout.cols();
    // Validate the indices against the gradient tables (the parameters' shapes).
    if (!dwte.empty()) {
      RLHF_EXPECTS(dwte.cols() == C, "embedding_backward: dwte has ", dwte.cols(), " columns but dout has ", C);
      check_ids(tokens, dwte.rows(), "embedding_backward", "token id", "the vocabulary");
    }
    RLHF_EXPECTS(dout.rows() == N, "embedding_backward: dout has ", dout.rows(), " rows for ", N,
                 " tokens; pass one gradient row per token");
    const index_t T_ = std::max<index_t>(tokens.cols(), 1);
    if (!dwpe.empty()) {
      RLHF_EXPECTS(dwpe.cols() == C, "embedding_backward: dwpe has ", dwpe.cols(), " columns but dout has ", C);
      if (!positions.empty()) {
        RLHF_EXPECTS(positions.size() == N, "embedding_backward: ", positions.size(), " positions for ", N,
                     " tokens; pass one position per token or none");
        check_ids(positions, dwpe.rows(), "embedding_backward", "position", "the position table (n_ctx)");
      } else {
        RLHF_EXPECTS(T_ <= dwpe.rows(), "embedding_backward: sequences of ", T_, " tokens exceed the ",
                     dwpe.rows(), " positions of wpe");
      }
    }
    if (!dwte.empty())
      scatter(dwte.data(), dwte.rows(), dout.data(), N, C, [&](index_t n) { return index_t{tokens.data()[n]}; });
    if (!dwpe.empty())
      scatter(dwpe.data(), dwpe.rows(), dout.data(), N, C, [&](index_t n) { return position(positions, n, T_); });
  }

  /// out[b] = inp[idx[b]] (rows of the leading dimension).
  template <class T>
  static void gather_rows(out_view<T> out, in_view<T> inp, index_view idx) {
    const index_t R = inp.rank() ? inp.dim(0) : 0;
    const index_t row = check_rows(out, inp, idx, "gather_rows", "out");
    check_ids(idx, R, "gather_rows", "row index", "the input's rows");
    parallel_chunks(idx.size(), row_grain(row), [&](index_t b0, index_t b1) {
      for (index_t b = b0; b < b1; ++b)
        std::copy_n(inp.data() + idx.data()[b] * row, row, out.data() + b * row);
    });
  }
  /// dinp[idx[b]] += dout[b] (deterministic, double-accumulated per destination row).
  template <class T>
  static void scatter_add_rows(out_view<T> dinp, in_view<T> dout, index_view idx) {
    if (dinp.empty()) return;
    const index_t R = dinp.rank() ? dinp.dim(0) : 0;
    const index_t row = check_rows(dout, in_view<T>(dinp), idx, "scatter_add_rows", "dout");
    check_ids(idx, R, "scatter_add_rows", "row index", "the gradient's rows");
    scatter(dinp.data(), R, dout.data(), idx.size(), row, [&](index_t b) { return index_t{idx.data()[b]}; });
  }

 private:
  static index_t position(index_view positions, index_t n, index_t T_) {
    return positions.empty() ? n % T_ : index_t{positions.data()[n]};
  }
  static void check_ids(index_view ids, index_t limit, const char* kernel, const char* what, const char* table) {
    for (index_t i = 0; i < ids.size(); ++i) {
      const std::int32_t v = ids.data()[i];
      RLHF_EXPECTS(v >= 0 && v < limit, kernel, ": ", what, " ", v, " at index ", i, " is outside ", table,
                   " of size ", limit, "; valid values are [0, ", limit, ")");
    }
  }
  template <class T>
  static void check(index_t out_rows, index_t out_cols, in_view<T> wte, in_view<T> wpe, index_view tokens,
                    index_view positions, const char* kernel, const char* out_name) {
    const index_t N = tokens.size(), C = wte.cols();
    RLHF_EXPECTS(wte.rank() == 2, kernel, ": wte must be (V, C), got ", shape_string(wte.extents()));
    RLHF_EXPECTS(out_rows == N && out_cols == C, kernel, ": ", out_name, " is ", out_rows, " x ", out_cols,
                 " but ", N, " tokens of width ", C, " are required");
    check_ids(tokens, wte.rows(), kernel, "token id", "the vocabulary");
    if (wpe.empty()) return;
    RLHF_EXPECTS(wpe.rank() == 2 && wpe.cols() == C, kernel, ": wpe must be (n_ctx, ", C, "), got ",
                 shape_string(wpe.extents()));
    if (positions.empty()) {
      RLHF_EXPECTS(std::max<index_t>(tokens.cols(), 1) <= wpe.rows(), kernel, ": sequences of ", tokens.cols(),
                   " tokens exceed the ", wpe.rows(), " positions of wpe (n_ctx)");
      return;
    }
    RLHF_EXPECTS(positions.size() == N, kernel, ": ", positions.size(), " positions for ", N,
                 " tokens; pass one position per token or none");
    check_ids(positions, wpe.rows(), kernel, "position", "the position table (n_ctx)");
  }
  template <class T>
  static index_t check_rows(view<T, host_space> out, in_view<std::remove_const_t<T>> inp, index_view idx,
                            const char* kernel, const char* out_name) {
    RLHF_EXPECTS(out.rank() >= 1 && inp.rank() >= 1, kernel, ": views must have a leading row dimension");
    RLHF_EXPECTS(out.dim(0) == idx.size(), kernel, ": ", out_name, " has ", out.dim(0), " rows but ", idx.size(),
                 " indices were given");
    const index_t row = out.dim(0) ? out.size() / out.dim(0) : 0;
    const index_t irow = inp.dim(0) ? inp.size() / inp.dim(0) : row;
    RLHF_EXPECTS(row == irow, kernel, ": rows of ", out_name, " ", shape_string(out.extents()), " and of ",
                 shape_string(inp.extents()), " differ in size");
    return row;
  }
  /// dst[key(n)] += src[n] for n in [0, N): stable counting sort by key, double sums per key.
  template <class T, class Key>
  static void scatter(T* dst, index_t R, const T* src, index_t N, index_t C, Key&& key) {
    if (N == 0 || C == 0) return;
    std::vector<index_t> start(static_cast<std::size_t>(R + 1), 0);
    for (index_t n = 0; n < N; ++n) ++start[static_cast<std::size_t>(key(n) + 1)];
    for (index_t r = 0; r < R; ++r) start[static_cast<std::size_t>(r + 1)] += start[static_cast<std::size_t>(r)];
    std::vector<index_t> order(static_cast<std::size_t>(N));
    {
      std::vector<index_t> fill(start.begin(), start.end() - 1);
      for (index_t n = 0; n < N; ++n) order[static_cast<std::size_t>(fill[static_cast<std::size_t>(key(n))]++)] = n;
    }
    std::vector<index_t> used;  // distinct destination rows, increasing
    for (index_t r = 0; r < R; ++r)
      if (start[static_cast<std::size_t>(r + 1)] > start[static_cast<std::size_t>(r)]) used.push_back(r);
    parallel_chunks(static_cast<index_t>(used.size()), row_grain(C, 4096), [&](index_t u0, index_t u1) {
      std::vector<double> acc(static_cast<std::size_t>(C));
      for (index_t u = u0; u < u1; ++u) {
        const index_t r = used[static_cast<std::size_t>(u)];
        std::fill(acc.begin(), acc.end(), 0.0);
        for (index_t i = start[static_cast<std::size_t>(r)]; i < start[static_cast<std::size_t>(r + 1)]; ++i) {
          const T* s = src + order[static_cast<std::size_t>(i)] * C;
          for (index_t c = 0; c < C; ++c) acc[static_cast<std::size_t>(c)] += s[c];
        }
        T* d = dst + r * C;
        for (index_t c = 0; c < C; ++c) d[c] += static_cast<T>(acc[static_cast<std::size_t>(c)]);
      }
    });
  }
};

}  // namespace rlhf::backend::eigen_detail
