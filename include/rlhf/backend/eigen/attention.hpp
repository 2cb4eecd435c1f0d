// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Eigen backend, causal multi-head scaled dot-product attention (Vaswani et al. 2017, eq. 1,
/// with GPT-2's causal mask) over an optional KV cache, its backward pass (no cache), the
/// q/k/v split of the fused c_attn output, and kv_write.
///
/// One task per (batch row, head). Heads are interleaved in C, so a head's q/k/v are strided
/// matrices (row stride C). Without a cache (training, prefill) the query rows go in causal
/// blocks of 16: a block's scores and outputs are products over the keys up to its last row
/// only, which skips about half the work of full T × T products, computed by eigen/gemm.hpp's
/// small_gemm (register-blocked, no packing: these products are far too small for a BLAS). Against
/// a cache (decoding) the few new rows are Eigen matrix-vector products over the cache, read in
/// place. The scores
/// are written straight into `probs` (its row i is the attention of query i), then normalised in
/// place with a double-accumulated softmax.
// IWYU pragma: private
#include <cmath>
#include <limits>
#include <vector>

#include "rlhf/backend/eigen/common.hpp"
#include "rlhf/backend/eigen/gemm.hpp"

namespace rlhf::backend::eigen_detail {

struct attention_kernels {
  /// q, k, v (B,T,C) = the three C-wide column blocks of qkv (B,T,3C).
  template <class T>
  static void split_qkv(out_view<T> q, out_view<T> k, out_view<T> v, in_view<T> qkv) {
    const index_t N = q.rows(), C = q.cols();
    expect_same(k, q, "split_qkv: k");
    expect_same(v, q, "split_qkv: v");
    RLHF_EXPECTS(qkv.rows() == N && qkv.cols() == 3 * C, "split_qkv: qkv has shape ", shape_string(qkv.extents()),
                 " but q has shape ", shape_string(q.extents()), "; qkv must be (..., 3C)");
    parallel_chunks(N, row_grain(3 * C), [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        const T* s = qkv.data() + r * 3 * C;
        std::copy_n(s, C, q.data() + r * C);
        std::copy_n(s + C, C, k.data() + r * C);
        std::copy_n(s + 2 * C, C, v.data() + r * C);
      }
    });
  }
  /// dqkv += [dq dk dv] (an empty dq/dk/dv counts as zero).
  template <class T>
  static void split_qkv_backward(out_view<T> dqkv, in_view<T> dq, in_view<T> dk, in_view<T> dv) {
    if (dqkv.empty()) return;
    const index_t N = dqkv.rows(), C = dqkv.cols() / 3;
    RLHF_EXPECTS(dqkv.cols() % 3 == 0, "split_qkv_backward: dqkv's last extent ", dqkv.cols(),
                 " is not a multiple of 3");
    const in_view<T> parts[3] = {dq, dk, dv};
    for (const auto& p : parts)
      if (!p.empty())
        RLHF_EXPECTS(p.rows() == N && p.cols() == C, "split_qkv_backward: a gradient has shape ",
                     shape_string(p.extents()), " but dqkv ", shape_string(dqkv.extents()),
                     " needs (..., ", C, ")");
    parallel_chunks(N, row_grain(3 * C), [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r)
        for (int j = 0; j < 3; ++j)
          if (!parts[j].empty())
            array_map<T>(dqkv.data() + r * 3 * C + j * C, C) += const_array_map<T>(parts[j].data() + r * C, C);
    });
  }

  /// out (B,Tq,C), probs (B,NH,Tq,S) from q, k, v (B,Tq,C) and the optional cache k_cache,
  /// v_cache (R,Tcap,C) read at rows cache_row (B; empty: row b) for cache_len (B; empty: 0)
  /// positions. See backend.hpp for the layout of probs.
  template <class T>
  static void attention_forward(out_view<T> out, out_view<T> probs, in_view<T> q, in_view<T> k, in_view<T> v,
                                in_view<T> k_cache, in_view<T> v_cache, index_view cache_row, index_view cache_len,
                                int n_head) {
    RLHF_EXPECTS(q.rank() == 3, "attention_forward: q must be (B, T, C), got ", shape_string(q.extents()));
    const index_t B = q.dim(0), Tq = q.dim(1), C = q.dim(2);
    check_heads(C, n_head, "attention_forward");
    expect_same(k, q, "attention_forward: k");
    expect_same(v, q, "attention_forward: v");
    expect_same(out, q, "attention_forward: out");
    const bool cached = !k_cache.empty();
    index_t R = 0, Tcap = 0, max_len = 0;
    if (cached) {
      RLHF_EXPECTS(k_cache.rank() == 3 && k_cache.dim(2) == C, "attention_forward: k_cache must be (R, Tcap, ", C,
                   "), got ", shape_string(k_cache.extents()));
      expect_same(v_cache, k_cache, "attention_forward: v_cache");
      R = k_cache.dim(0);
      Tcap = k_cache.dim(1);
      if (!cache_row.empty()) {
        expect_size(cache_row, B, "attention_forward: cache_row");
        for (index_t b = 0; b < B; ++b)
          RLHF_EXPECTS(cache_row.data()[b] >= 0 && cache_row.data()[b] < R, "attention_forward: cache_row[", b,
                       "] = ", cache_row.data()[b], " is outside the cache's ", R, " rows");
      } else {
        RLHF_EXPECTS(B <= R, "attention_forward: no cache_row given, so row b reads cache row b, but the cache has ",
                     R, " rows for a batch of ", B);
      }
    }
    if (!cache_len.empty()) {
      expect_size(cache_len, B, "attention_forward: cache_len");
      for (index_t b = 0; b < B; ++b) {
        const std::int32_t L = cache_len.data()[b];
        RLHF_EXPECTS(L >= 0 && L <= Tcap, "attention_forward: cache_len[", b, "] = ", L,
                     cached ? " exceeds the cache capacity " : " needs a KV cache, and none was given (capacity ",
                     Tcap, cached ? "" : ")");
        max_len = std::max<index_t>(max_len, L);
      }
    }
    RLHF_EXPECTS(probs.rank() == 4 && probs.dim(0) == B && probs.dim(1) == n_head && probs.dim(2) == Tq &&
                     probs.dim(3) >= max_len + Tq,
                 "attention_forward: probs has shape ", shape_string(probs.extents()), " but (", B, ", ", n_head, ", ",
                 Tq, ", S) with S >= max cache_len + Tq = ", max_len + Tq, " is required");
    if (q.size() == 0) return;  // no query rows (and no memory to offset into)
    const index_t S = probs.dim(3), hs = C / n_head;
    const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(hs)));
    parallel_tasks(B * n_head, [&](index_t task) {
      const index_t b = task / n_head, h = task % n_head;
      const index_t L = cache_len.empty() ? 0 : cache_len.data()[b];
      const index_t off = b * Tq * C + h * hs;
      const T* Q = q.data() + off;
      const T* K = k.data() + off;
      const T* V = v.data() + off;
      T* P = probs.data() + (b * n_head + h) * Tq * S;
      T* O = out.data() + off;
      if (L > 0) {
        // Against a cache (decoding): the scores of the few new rows are matrix-vector products
        // over the cached keys (Eigen's GEMV reads them in place), then the new keys.
        const index_t r = cache_row.empty() ? b : cache_row.data()[b];
        const T* kc = k_cache.data() + r * Tcap * C + h * hs;
        const T* vc = v_cache.data() + r * Tcap * C + h * hs;
        auto Qm = mat(Q, Tq, hs, C);
        auto Pm = mat(P, Tq, S, S);
        Pm.leftCols(L).noalias() = (Qm * mat(kc, L, hs, C).transpose()) * scale;
        Pm.middleCols(L, Tq).noalias() = (Qm * mat(K, Tq, hs, C).transpose()) * scale;
        for (index_t i = 0; i < Tq; ++i) softmax_row(P + i * S, L + i + 1, S);
        auto Om = mat(O, Tq, hs, C);
        Om.noalias() = Pm.leftCols(L) * mat(vc, L, hs, C);
        Om.noalias() += Pm.middleCols(L, Tq) * mat(V, Tq, hs, C);
        return;
      }
      // Without a cache (training, prefill): causal blocks of query rows [i0, i1) see keys
      // [0, i1) only, so their products stop there (about half the work of full T x T products),
      // computed by small_gemm against this head's keys transposed once, scale folded in.
      std::vector<T> kt(static_cast<std::size_t>(hs * Tq));
      for (index_t j = 0; j < Tq; ++j)
        for (index_t d = 0; d < hs; ++d) kt[d * Tq + j] = K[j * C + d] * scale;
      for (index_t i0 = 0; i0 < Tq; i0 += causal_block) {
        const index_t m = std::min(causal_block, Tq - i0), i1 = i0 + m;
        small_gemm<T>(m, i1, hs, Q + i0 * C, C, kt.data(), Tq, T(0), P + i0 * S, S);
        for (index_t i = i0; i < i1; ++i) softmax_row(P + i * S, i + 1, S);
        small_gemm<T>(m, hs, i1, P + i0 * S, S, V, C, T(0), O + i0 * C, C);
      }
    });
  }

  /// dq, dk, dv (B,T,C) += the gradients of attention without a cache, from dout (B,T,C), the
  /// inputs and the forward's probs (B,NH,T,S), S >= T. Empty gradient views are skipped.
  template <class T>
  static void attention_backward(out_view<T> dq, out_view<T> dk, out_view<T> dv, in_view<T> dout, in_view<T> q,
                                 in_view<T> k, in_view<T> v, in_view<T> probs, int n_head) {
    RLHF_EXPECTS(q.rank() == 3, "attention_backward: q must be (B, T, C), got ", shape_string(q.extents()));
    const index_t B = q.dim(0), Tq = q.dim(1), C = q.dim(2);
    check_heads(C, n_head, "attention_backward");
    expect_same(k, q, "attention_backward: k");
    expect_same(v, q, "attention_backward: v");
    expect_same(dout, q, "attention_backward: dout");
    if (!dq.empty()) expect_same(dq, q, "attention_backward: dq");
    if (!dk.empty()) expect_same(dk, q, "attention_backward: dk");
    if (!dv.empty()) expect_same(dv, q, "attention_backward: dv");
    RLHF_EXPECTS(probs.rank() == 4 && probs.dim(0) == B && probs.dim(1) == n_head && probs.dim(2) == Tq &&
                     probs.dim(3) >= Tq,
                 "attention_backward: probs has shape ", shape_string(probs.extents()), " but (", B, ", ", n_head,
                 ", ", Tq, ", S >= ", Tq, ") is required");
    if (q.size() == 0 || (dq.empty() && dk.empty() && dv.empty())) return;
    const index_t S = probs.dim(3), hs = C / n_head;
    const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(hs)));
    parallel_tasks(B * n_head, [&](index_t task) {
      const index_t b = task / n_head, h = task % n_head;
      const index_t off = b * Tq * C + h * hs;
      const T* P = probs.data() + (b * n_head + h) * Tq * S;
      const T* dO = dout.data() + off;
      const bool dscores = !dq.empty() || !dk.empty();
      const index_t mb = std::min(causal_block, Tq);
      // Scratch: this head's values transposed (hs, T), and a block's P and dS, as (m, n) and (n, m).
      std::vector<T> vt(dscores ? static_cast<std::size_t>(hs * Tq) : 0), ds(static_cast<std::size_t>(mb * Tq)),
          tr(static_cast<std::size_t>(mb * Tq));
      if (dscores)
        for (index_t j = 0; j < Tq; ++j)
          for (index_t d = 0; d < hs; ++d) vt[d * Tq + j] = v.data()[off + j * C + d];
      auto transpose = [&](const T* src, index_t lds, index_t m, index_t n) {  // tr (n, m) = src (m, n)ᵀ
        for (index_t i = 0; i < m; ++i)
          for (index_t j = 0; j < n; ++j) tr[j * m + i] = src[i * lds + j];
      };
      // The forward's causal blocks: rows [i0, i1) reach keys [0, i1) only (P is 0 after them).
      for (index_t i0 = 0; i0 < Tq; i0 += causal_block) {
        const index_t m = std::min(causal_block, Tq - i0), n = i0 + m;
        if (!dv.empty()) {  // dv[0, n) += P_blockᵀ · dO_block
          transpose(P + i0 * S, S, m, n);
          small_gemm<T>(n, hs, m, tr.data(), m, dO + i0 * C, C, T(1), dv.data() + off, C);
        }
        if (!dscores) continue;
        // dS = P ⊙ (dP - rowsum(P ⊙ dP)) · scale, dP = dO · Vᵀ; masked entries have P = 0.
        small_gemm<T>(m, n, hs, dO + i0 * C, C, vt.data(), Tq, T(0), ds.data(), n);
        for (index_t i = i0; i < n; ++i) {
          const T* pi = P + i * S;
          T* di = ds.data() + (i - i0) * n;
          const double dot = dsum(i + 1, [&](index_t j) { return static_cast<double>(pi[j]) * di[j]; });
          for (index_t j = 0; j <= i; ++j) di[j] = pi[j] * (di[j] - static_cast<T>(dot)) * scale;
          std::fill(di + i + 1, di + n, T(0));
        }
        if (!dq.empty()) small_gemm<T>(m, hs, n, ds.data(), n, k.data() + off, C, T(1), dq.data() + off + i0 * C, C);
        if (!dk.empty()) {  // dk[0, n) += dSᵀ · Q_block
          transpose(ds.data(), n, m, n);
          small_gemm<T>(n, hs, m, tr.data(), m, q.data() + off + i0 * C, C, T(1), dk.data() + off, C);
        }
      }
    });
  }

  /// cache[row_b, len_b + i] = src[b, i] for i < count_b. cache (R,Tcap,C), src (B,T,C);
  /// cache_row empty: row b; count empty: all T.
  template <class T>
  static void kv_write(out_view<T> cache, in_view<T> src, index_view cache_row, index_view cache_len,
                       index_view count) {
    RLHF_EXPECTS(src.rank() == 3, "kv_write: src must be (B, T, C), got ", shape_string(src.extents()));
    RLHF_EXPECTS(cache.rank() == 3 && cache.dim(2) == src.dim(2), "kv_write: cache must be (R, Tcap, ", src.dim(2),
                 "), got ", shape_string(cache.extents()));
    const index_t B = src.dim(0), Tn = src.dim(1), C = src.dim(2), R = cache.dim(0), Tcap = cache.dim(1);
    expect_size(cache_len, B, "kv_write: cache_len");
    if (!cache_row.empty()) expect_size(cache_row, B, "kv_write: cache_row");
    if (!count.empty()) expect_size(count, B, "kv_write: count");
    for (index_t b = 0; b < B; ++b) {
      const index_t r = cache_row.empty() ? b : cache_row.data()[b];
      const index_t len = cache_len.data()[b], n = count.empty() ? Tn : count.data()[b];
      RLHF_EXPECTS(r >= 0 && r < R, "kv_write: cache_row[", b, "] = ", r, " is outside the cache's ", R, " rows");
      RLHF_EXPECTS(n >= 0 && n <= Tn, "kv_write: count[", b, "] = ", n, " is outside [0, ", Tn, "]");
      RLHF_EXPECTS(len >= 0 && len + n <= Tcap, "kv_write: writing ", n, " positions after cache_len[", b, "] = ", len,
                   " overflows the cache capacity ", Tcap, "; allocate a longer cache");
    }
    for (index_t b = 0; b < B; ++b) {
      const index_t r = cache_row.empty() ? b : cache_row.data()[b];
      const index_t n = count.empty() ? Tn : count.data()[b];
      std::copy_n(src.data() + b * Tn * C, n * C, cache.data() + (r * Tcap + cache_len.data()[b]) * C);
    }
  }

 private:
  /// Query rows per causal block: the products of a block stop at its last key.
  static constexpr index_t causal_block = 16;

  /// row[0, n) = softmax(row[0, n)) (max subtracted, double-accumulated sum); row[n, S) = 0.
  template <class T>
  static void softmax_row(T* row, index_t n, index_t S) {
    auto r = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(row, n);
    r = (r - r.maxCoeff()).exp();
    r *= static_cast<T>(1.0 / dsum(n, [row](index_t j) { return row[j]; }));
    std::fill(row + n, row + S, T(0));
  }

  static void check_heads(index_t C, int n_head, const char* kernel) {
    RLHF_EXPECTS(n_head > 0 && C % n_head == 0, kernel, ": n_head = ", n_head, " must be positive and divide C = ", C);
  }
};

}  // namespace rlhf::backend::eigen_detail
