// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Thrust backend, row lookups: token + position embedding (GPT-2, Radford et al. 2019:
/// h0 = W_te[tok] + W_pe[pos]) and row gather / scatter-add. The scatter-adds (embedding
/// backward, scatter_add_rows) run one task per column and visit rows in ascending order, so
/// repeated ids accumulate in a fixed order without atomics: the result is deterministic on
/// every system.
// IWYU pragma: private
#include <algorithm>
#include <cstdint>

#include "rlhf/backend/thrust/common.hpp"

namespace rlhf::backend::thrust_detail {

template <class S>
struct embedding_kernels {
  /// out (N,C) = wte[tok] + wpe[pos]; an empty wpe adds no position embedding; empty positions
  /// mean n mod T for tokens of shape (B, T).
  template <class T>
  static void embedding_forward(out_view<T, S> out, in_view<T, S> wte, in_view<T, S> wpe,
                                index_view<S> tokens, index_view<S> positions) {
    check<T>(out.rows(), out.cols(), wte, wpe, tokens, positions);
    const index_t n = tokens.size(), c = wte.cols(), tt = std::max<index_t>(tokens.cols(), 1);
    if (n == 0 || c == 0) return;
    const std::int32_t* tok = tokens.data();
    const std::int32_t* pos = data_or_null(positions);
    T* o = out.data();
    const T* te = wte.data();
    const T* pe = data_or_null(wpe);
    for_n<S>(n * c, [=] RLHF_HOST_DEVICE(index_t idx) {
      const index_t r = idx / c, j = idx % c;
      const index_t p = pos ? static_cast<index_t>(pos[r]) : r % tt;
      o[idx] = te[tok[r] * c + j] + (pe ? pe[p * c + j] : T(0));
    });
  }

  /// dwte[tok_n] += dout_n, dwpe[pos_n] += dout_n; either gradient may be empty (not wanted).
  template <class T>
  static void embedding_backward(out_view<T, S> dwte, out_view<T, S> dwpe, in_view<T, S> dout,
                                 index_view<S> tokens, index_view<S> positions) {
    const index_t n = tokens.size(), c = dout.cols(), tt = std::max<index_t>(tokens.cols(), 1);
    RLHF_EXPECTS(dout.rows() == n, "embedding_backward: dout has ", dout.rows(), " rows for ", n,
                 " tokens; pass one gradient row per token");
    if (!dwte.empty()) {
      RLHF_EXPECTS(dwte.rank() == 2 && dwte.cols() == c, "embedding_backward: dwte must be (V, ", c, ")");
      expect_ids_in_range<S>(tokens.data(), n, 0, dwte.dim(0), "embedding_backward", "tokens",
                             "token ids must be < the vocabulary size (rows of dwte)");
    }
    if (!dwpe.empty()) {
      RLHF_EXPECTS(dwpe.rank() == 2 && dwpe.cols() == c, "embedding_backward: dwpe must be (n_ctx, ", c, ")");
      if (positions.empty())
        RLHF_EXPECTS(tt <= dwpe.dim(0), "embedding_backward: sequences of ", tt,
                     " tokens exceed the ", dwpe.dim(0), " positions of wpe");
      else
        check_positions(positions, n, dwpe.dim(0), "embedding_backward",
                        "positions must be < the number of rows of dwpe (n_ctx)");
    }
    if (n == 0 || c == 0) return;
    const T* g = dout.data();
    if (!dwte.empty()) {
      T* d = dwte.data();
      const std::int32_t* tok = tokens.data();
      for_n<S>(c, [=] RLHF_HOST_DEVICE(index_t j) {
        for (index_t r = 0; r < n; ++r) d[tok[r] * c + j] += g[r * c + j];
      });
    }
    if (!dwpe.empty()) {
      T* d = dwpe.data();
      const std::int32_t* pos = data_or_null(positions);
      for_n<S>(c, [=] RLHF_HOST_DEVICE(index_t j) {
        for (index_t r = 0; r < n; ++r) {
          const index_t p = pos ? static_cast<index_t>(pos[r]) : r % tt;
          d[p * c + j] += g[r * c + j];
        }
      });
    }
  }

  /// out[b] = inp[idx_b] over the leading dimension.
  template <class T>
  static void gather_rows(out_view<T, S> out, in_view<T, S> inp, index_view<S> idx) {
    const index_t b = idx.size();
    RLHF_EXPECTS(out.rank() >= 1 && out.dim(0) == b, "gather_rows: out needs one row per index (",
                 b, "), its shape has ", out.rank() >= 1 ? out.dim(0) : 0, " rows");
    const index_t rs = row_size(inp);
    RLHF_EXPECTS(b == 0 || row_size(out) == rs, "gather_rows: rows of out hold ", row_size(out),
                 " elements, rows of inp ", rs, "; they must agree");
    if (b == 0 || rs == 0) return;
    expect_ids_in_range<S>(idx.data(), b, 0, inp.dim(0), "gather_rows", "idx",
                           "indices must select an existing row of inp");
    T* o = out.data();
    const T* in = inp.data();
    const std::int32_t* id = idx.data();
    for_n<S>(b * rs, [=] RLHF_HOST_DEVICE(index_t e) {
      const index_t r = e / rs;
      o[e] = in[id[r] * rs + e % rs];
    });
  }

  /// dinp[idx_b] += dout[b] over the leading dimension; repeated indices accumulate in order.
  template <class T>
  static void scatter_add_rows(out_view<T, S> dinp, in_view<T, S> dout, index_view<S> idx) {
    const index_t b = idx.size();
    RLHF_EXPECTS(dout.rank() >= 1 && dout.dim(0) == b, "scatter_add_rows: dout needs one row per "
                 "index (", b, "), its shape has ", dout.rank() >= 1 ? dout.dim(0) : 0, " rows");
    if (dinp.empty()) return;
    const index_t rs = row_size(dinp);
    RLHF_EXPECTS(b == 0 || row_size(dout) == rs, "scatter_add_rows: rows of dout hold ", row_size(dout),
                 " elements, rows of dinp ", rs, "; they must agree");
    if (b == 0 || rs == 0) return;
    expect_ids_in_range<S>(idx.data(), b, 0, dinp.dim(0), "scatter_add_rows", "idx",
                           "indices must select an existing row of dinp");
    T* d = dinp.data();
    const T* g = dout.data();
    const std::int32_t* id = idx.data();
    for_n<S>(rs, [=] RLHF_HOST_DEVICE(index_t j) {
      for (index_t r = 0; r < b; ++r) d[id[r] * rs + j] += g[r * rs + j];
    });
  }

 private:
  /// The arguments of embedding_forward: out is (N, C) for the N ids in tokens; wpe (when
  /// given) is (n_ctx, C); positions are one per token, or empty for "row n of a (B, T) batch
  /// sits at position n mod T" (every sequence starts at 0).
  template <class T>
  static void check(index_t rows, index_t cols, in_view<T, S> wte, in_view<T, S> wpe,
                    index_view<S> tokens, index_view<S> positions) {
    const index_t n = tokens.size(), c = wte.cols();
    RLHF_EXPECTS(wte.rank() == 2, "embedding_forward: wte must be (V, C), got rank ", wte.rank());
    RLHF_EXPECTS(rows == n && cols == c, "embedding_forward: out is ", rows, " x ", cols, " but ", n,
                 " tokens of width ", c, " are required");
    expect_ids_in_range<S>(tokens.data(), n, 0, wte.dim(0), "embedding_forward", "tokens",
                           "token ids must be < the vocabulary size (rows of wte)");
    if (wpe.empty()) return;
    RLHF_EXPECTS(wpe.rank() == 2 && wpe.cols() == c, "embedding_forward: wpe must be (n_ctx, ", c, ")");
    if (positions.empty()) {
      RLHF_EXPECTS(std::max<index_t>(tokens.cols(), 1) <= wpe.dim(0), "embedding_forward: sequences of ",
                   tokens.cols(), " tokens exceed the ", wpe.dim(0), " positions of wpe (n_ctx)");
      return;
    }
    check_positions(positions, n, wpe.dim(0), "embedding_forward",
                    "positions must be < the number of rows of wpe (n_ctx)");
  }
  /// Given positions: one per token (n), each selecting one of the `rows` rows of the table.
  static void check_positions(index_view<S> positions, index_t n, index_t rows, const char* kernel,
                              const char* fix) {
    RLHF_EXPECTS(positions.size() == n, kernel, ": ", positions.size(), " positions for ", n,
                 " tokens; pass one position per token or none");
    expect_ids_in_range<S>(positions.data(), n, 0, rows, kernel, "positions", fix);
  }
  /// Elements per leading-dimension row of v.
  template <class V>
  static index_t row_size(const V& v) {
    return v.rank() == 0 || v.dim(0) == 0 ? 0 : v.size() / v.dim(0);
  }
};

}  // namespace rlhf::backend::thrust_detail
