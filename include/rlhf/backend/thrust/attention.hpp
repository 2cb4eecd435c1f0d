// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Thrust backend, causal multi-head scaled dot-product attention (Vaswani et al. 2017, eq. 1,
/// with GPT-2's causal mask) over an optional KV cache, its backward pass, the qkv split and
/// the cache write. Heads are interleaved in C (head h owns columns [h·hs, (h+1)·hs)); key
/// order, cache layout and probs layout follow rlhf/backend/backend.hpp.
///
/// Forward: one task per (b, h, query i) computes its row of probabilities (max-subtracted,
/// normalised in double) and its output. Backward (no cache): one task per (b, h, i) forms
/// dS = P ⊙ (dP - ⟨dP, P⟩) into a scratch (B, NH, T, T) and dq; then one task per (b, h, key j)
/// sums dk and dv over the queries i >= j, so no two tasks write the same element.
// IWYU pragma: private
#include <cmath>
#include <cstdint>

#include "rlhf/backend/thrust/common.hpp"

namespace rlhf::backend::thrust_detail {

template <class S>
struct attention_kernels {
  /// q, k, v (B,T,C) from qkv (B,T,3C).
  template <class T>
  static void split_qkv(out_view<T, S> q, out_view<T, S> k, out_view<T, S> v, in_view<T, S> qkv) {
    const shape want = part_shape(qkv.extents(), "split_qkv", "qkv");
    expect_shape(q.extents(), want, "split_qkv: q");
    expect_shape(k.extents(), want, "split_qkv: k");
    expect_shape(v.extents(), want, "split_qkv: v");
    if (qkv.empty()) return;
    const index_t c = want[2];
    T* pq = q.data();
    T* pk = k.data();
    T* pv = v.data();
    const T* in = qkv.data();
    for_n<S>(want.size(), [=] RLHF_HOST_DEVICE(index_t e) {
      const index_t r = e / c, j = e % c;
      pq[e] = in[r * 3 * c + j];
      pk[e] = in[r * 3 * c + c + j];
      pv[e] = in[r * 3 * c + 2 * c + j];
    });
  }

  /// dqkv += [dq dk dv]; an empty dq, dk or dv contributes nothing.
  template <class T>
  static void split_qkv_backward(out_view<T, S> dqkv, in_view<T, S> dq, in_view<T, S> dk,
                                 in_view<T, S> dv) {
    if (dqkv.empty()) return;
    const shape want = part_shape(dqkv.extents(), "split_qkv_backward", "dqkv");
    if (!dq.empty()) expect_shape(dq.extents(), want, "split_qkv_backward: dq");
    if (!dk.empty()) expect_shape(dk.extents(), want, "split_qkv_backward: dk");
    if (!dv.empty()) expect_shape(dv.extents(), want, "split_qkv_backward: dv");
    const index_t c = want[2];
    T* d = dqkv.data();
    const T* gq = data_or_null(dq);
    const T* gk = data_or_null(dk);
    const T* gv = data_or_null(dv);
    for_n<S>(want.size(), [=] RLHF_HOST_DEVICE(index_t e) {
      const index_t r = e / c, j = e % c;
      if (gq) d[r * 3 * c + j] += gq[e];
      if (gk) d[r * 3 * c + c + j] += gk[e];
      if (gv) d[r * 3 * c + 2 * c + j] += gv[e];
    });
  }

  /// out, probs = causal attention of q over the cached keys k_cache[cache_row[b], 0 ..
  /// cache_len[b]) and then the new keys k[b, 0 .. i] (contract in rlhf/backend/backend.hpp).
  template <class T>
  static void attention_forward(out_view<T, S> out, out_view<T, S> probs, in_view<T, S> q,
                                in_view<T, S> k, in_view<T, S> v, in_view<T, S> k_cache,
                                in_view<T, S> v_cache, index_view<S> cache_row,
                                index_view<S> cache_len, int n_head) {
    check_qkv<T>(q, k, v, n_head, "attention_forward");
    const index_t nb = q.dim(0), tq = q.dim(1), c = q.dim(2);
    expect_shape(out.extents(), q.extents(), "attention_forward: out");
    RLHF_EXPECTS(probs.rank() == 4 && probs.dim(0) == nb && probs.dim(1) == n_head &&
                     probs.dim(2) == tq,
                 "attention_forward: probs must be (B, NH, Tq, S) = (", nb, ", ", n_head, ", ", tq,
                 ", S)");
    const index_t sp = probs.dim(3);
    const bool cached = !k_cache.empty();
    index_t rows = 0, cap = 0;
    if (cached) {
      RLHF_EXPECTS(k_cache.rank() == 3 && k_cache.dim(2) == c,
                   "attention_forward: k_cache must be (R, Tcap, C) with C = ", c);
      expect_shape(v_cache.extents(), k_cache.extents(), "attention_forward: v_cache");
      rows = k_cache.dim(0);
      cap = k_cache.dim(1);
      if (!cache_row.empty())
        expect_one_per(cache_row.size(), nb, "attention_forward", "cache_row", "batch row");
      else
        RLHF_EXPECTS(nb <= rows, "attention_forward: without cache_row, batch row b reads cache row "
                     "b, but the cache has ", rows, " rows for a batch of ", nb);
    }
    if (!cache_len.empty())
      expect_one_per(cache_len.size(), nb, "attention_forward", "cache_len", "batch row");
    if (q.empty()) return;
    const std::int32_t* crow = cached ? data_or_null(cache_row) : nullptr;
    const std::int32_t* clen = data_or_null(cache_len);
    if (crow)
      expect_ids_in_range<S>(crow, nb, 0, rows, "attention_forward", "cache_row",
                             "cache rows must select a row of k_cache / v_cache");
    if (clen) {
      expect_ids_in_range<S>(clen, nb, 0, cached ? cap + 1 : 1, "attention_forward", "cache_len",
                             cached ? "cached lengths must lie in [0, Tcap]"
                                    : "a cached length > 0 needs k_cache and v_cache");
      expect_ids_in_range<S>(clen, nb, 0, sp - tq + 1, "attention_forward", "cache_len",
                             "probs' last extent S must be >= cache_len + Tq");
    } else {
      RLHF_EXPECTS(sp >= tq, "attention_forward: probs' last extent is ", sp, " < Tq = ", tq);
    }
    const index_t nh = n_head, hs = c / n_head;
    const T scale = score_scale<T>(hs);
    T* o = out.data();
    T* pp = probs.data();
    const T* pq = q.data();
    const T* pk = k.data();
    const T* pv = v.data();
    const T* kc = cached ? k_cache.data() : nullptr;
    const T* vc = cached ? v_cache.data() : nullptr;
    for_n<S>(nb * nh * tq, [=] RLHF_HOST_DEVICE(index_t task) {
      using std::exp;
      const index_t i = task % tq, h = (task / tq) % nh, b = task / (tq * nh);
      const index_t len = clen ? clen[b] : 0;
      const index_t crb = crow ? crow[b] : b;
      const T* qi = pq + (b * tq + i) * c + h * hs;
      T* prow = pp + ((b * nh + h) * tq + i) * sp;
      // key j < len is cached key j; key len + j' (j' <= i) is new key j'.
      auto key = [=](index_t j) {
        return j < len ? kc + (crb * cap + j) * c + h * hs : pk + (b * tq + (j - len)) * c + h * hs;
      };
      auto val = [=](index_t j) {
        return j < len ? vc + (crb * cap + j) * c + h * hs : pv + (b * tq + (j - len)) * c + h * hs;
      };
      const index_t nkeys = len + i + 1;
      T mx = T(0);
      for (index_t j = 0; j < nkeys; ++j) {
        const T* kj = key(j);
        T s = T(0);
        for (index_t d = 0; d < hs; ++d) s += qi[d] * kj[d];
        s *= scale;
        prow[j] = s;
        mx = (j == 0 || s > mx) ? s : mx;
      }
      double z = 0.0;
      for (index_t j = 0; j < nkeys; ++j) {
        const double e = exp(static_cast<double>(prow[j] - mx));
        prow[j] = static_cast<T>(e);
        z += e;
      }
      const double inv = 1.0 / z;
      for (index_t j = 0; j < nkeys; ++j) prow[j] = static_cast<T>(prow[j] * inv);
      for (index_t j = nkeys; j < sp; ++j) prow[j] = T(0);
      T* oi = o + (b * tq + i) * c + h * hs;
      for (index_t d = 0; d < hs; ++d) oi[d] = T(0);
      for (index_t j = 0; j < nkeys; ++j) {
        const T p = prow[j];
        const T* vj = val(j);
        for (index_t d = 0; d < hs; ++d) oi[d] += p * vj[d];
      }
    });
  }

  /// Backward of attention_forward without a cache (training): dq, dk, dv += ∂L/∂q, k, v given
  /// dout and the saved probs (B, NH, T, S >= T). Empty gradients are not computed.
  template <class T>
  static void attention_backward(out_view<T, S> dq, out_view<T, S> dk, out_view<T, S> dv,
                                 in_view<T, S> dout, in_view<T, S> q, in_view<T, S> k,
                                 in_view<T, S> v, in_view<T, S> probs, int n_head) {
    check_qkv<T>(q, k, v, n_head, "attention_backward");
    const index_t nb = q.dim(0), t = q.dim(1), c = q.dim(2);
    expect_shape(dout.extents(), q.extents(), "attention_backward: dout");
    RLHF_EXPECTS(probs.rank() == 4 && probs.dim(0) == nb && probs.dim(1) == n_head &&
                     probs.dim(2) == t && probs.dim(3) >= t,
                 "attention_backward: probs must be (B, NH, T, S >= T) = (", nb, ", ", n_head, ", ",
                 t, ", S) as saved by attention_forward without a cache");
    if (!dq.empty()) expect_shape(dq.extents(), q.extents(), "attention_backward: dq");
    if (!dk.empty()) expect_shape(dk.extents(), q.extents(), "attention_backward: dk");
    if (!dv.empty()) expect_shape(dv.extents(), q.extents(), "attention_backward: dv");
    if (q.empty() || (dq.empty() && dk.empty() && dv.empty())) return;
    const index_t nh = n_head, hs = c / n_head, sp = probs.dim(3);
    const T scale = score_scale<T>(hs);
    const T* g = dout.data();
    const T* pq = q.data();
    const T* pk = k.data();
    const T* pv = v.data();
    const T* pp = probs.data();
    T* gq = data_or_null(dq);
    T* gk = data_or_null(dk);
    T* gv = data_or_null(dv);
    // dS (B, NH, T, T): only needed for dq and dk.
    typename system_traits<S>::template vector<T> scratch(
        static_cast<std::size_t>(gq || gk ? nb * nh * t * t : 0));
    T* ds = ::thrust::raw_pointer_cast(scratch.data());
    if (gq || gk) {
      for_n<S>(nb * nh * t, [=] RLHF_HOST_DEVICE(index_t task) {
        const index_t i = task % t, h = (task / t) % nh, b = task / (t * nh);
        const T* prow = pp + ((b * nh + h) * t + i) * sp;
        const T* gi = g + (b * t + i) * c + h * hs;
        T* dsrow = ds + ((b * nh + h) * t + i) * t;
        double dot = 0.0;
        for (index_t j = 0; j <= i; ++j) {
          const T* vj = pv + (b * t + j) * c + h * hs;
          T dp = T(0);
          for (index_t d = 0; d < hs; ++d) dp += gi[d] * vj[d];
          dsrow[j] = dp;
          dot += static_cast<double>(prow[j]) * dp;
        }
        for (index_t j = 0; j <= i; ++j) dsrow[j] = static_cast<T>(prow[j] * (dsrow[j] - dot));
        if (gq) {
          T* dqi = gq + (b * t + i) * c + h * hs;
          for (index_t j = 0; j <= i; ++j) {
            const T w = dsrow[j] * scale;
            const T* kj = pk + (b * t + j) * c + h * hs;
            for (index_t d = 0; d < hs; ++d) dqi[d] += w * kj[d];
          }
        }
      });
    }
    if (gk || gv) {
      for_n<S>(nb * nh * t, [=] RLHF_HOST_DEVICE(index_t task) {
        const index_t j = task % t, h = (task / t) % nh, b = task / (t * nh);
        T* dkj = gk ? gk + (b * t + j) * c + h * hs : nullptr;
        T* dvj = gv ? gv + (b * t + j) * c + h * hs : nullptr;
        for (index_t i = j; i < t; ++i) {
          const index_t row = (b * nh + h) * t + i;
          if (dkj) {
            const T w = ds[row * t + j] * scale;
            const T* qi = pq + (b * t + i) * c + h * hs;
            for (index_t d = 0; d < hs; ++d) dkj[d] += w * qi[d];
          }
          if (dvj) {
            const T p = pp[row * sp + j];
            const T* gi = g + (b * t + i) * c + h * hs;
            for (index_t d = 0; d < hs; ++d) dvj[d] += p * gi[d];
          }
        }
      });
    }
  }

  /// cache[row_b, len_b + i] = src[b, i] for i < count_b; cache_row empty: row b; count empty:
  /// all T.
  template <class T>
  static void kv_write(out_view<T, S> cache, in_view<T, S> src, index_view<S> cache_row,
                       index_view<S> cache_len, index_view<S> count) {
    RLHF_EXPECTS(src.rank() == 3, "kv_write: src must be (B, T, C)");
    RLHF_EXPECTS(cache.rank() == 3 && cache.dim(2) == src.dim(2),
                 "kv_write: cache must be (R, Tcap, ", src.dim(2), ") to match src");
    const index_t nb = src.dim(0), ts = src.dim(1), c = src.dim(2), nr = cache.dim(0), cap = cache.dim(1);
    expect_one_per(cache_len.size(), nb, "kv_write", "cache_len", "row of src");
    if (!cache_row.empty())
      expect_one_per(cache_row.size(), nb, "kv_write", "cache_row", "row of src");
    else
      RLHF_EXPECTS(nb <= nr, "kv_write: no cache_row given, so row b writes cache row b, but the "
                   "cache has ", nr, " rows for ", nb, " sources");
    if (!count.empty()) expect_one_per(count.size(), nb, "kv_write", "count", "row of src");
    if (nb == 0) return;
    const std::int32_t* row = data_or_null(cache_row);
    const std::int32_t* len = cache_len.data();
    const std::int32_t* cnt = data_or_null(count);
    if (row)
      expect_ids_in_range<S>(row, nb, 0, nr, "kv_write", "cache_row",
                             "cache rows must select a row of the cache");
    if (cnt)
      expect_ids_in_range<S>(cnt, nb, 0, ts + 1, "kv_write", "count", "counts must lie in [0, T] of src");
    const index_t over = find_first<S>(nb, [=] RLHF_HOST_DEVICE(index_t b) {
      const index_t n = cnt ? static_cast<index_t>(cnt[b]) : ts;
      return len[b] < 0 || static_cast<index_t>(len[b]) + n > cap;
    });
    if (over >= 0)
      RLHF_THROW(invalid_argument, "kv_write: writing ", cnt ? fetch<S>(cnt + over) : ts,
                 " positions after cache_len[", over, "] = ", fetch<S>(len + over),
                 " overflows the cache capacity ", cap, "; allocate a longer cache");
    if (ts == 0 || c == 0) return;
    T* dst = cache.data();
    const T* in = src.data();
    for_n<S>(nb * ts * c, [=] RLHF_HOST_DEVICE(index_t e) {
      const index_t j = e % c, i = (e / c) % ts, b = e / (c * ts);
      const index_t n = cnt ? static_cast<index_t>(cnt[b]) : ts;
      const index_t r = row ? static_cast<index_t>(row[b]) : b;
      if (i < n) dst[(r * cap + len[b] + i) * c + j] = in[e];
    });
  }

 private:
  /// The checks both attention passes share: q is (B, T, C), n_head divides C, and k and v
  /// have the shape of q.
  template <class T>
  static void check_qkv(in_view<T, S> q, in_view<T, S> k, in_view<T, S> v, int n_head,
                        const char* kernel) {
    RLHF_EXPECTS(q.rank() == 3, kernel, ": q must be (B, T, C)");
    RLHF_EXPECTS(n_head > 0 && q.dim(2) % n_head == 0, kernel, ": n_head = ", n_head,
                 " must be positive and divide the channel count C = ", q.dim(2));
    expect_extents(k.extents(), q.extents(), kernel, "k");
    expect_extents(v.extents(), q.extents(), kernel, "v");
  }
  /// (B, T, C) of a fused (B, T, 3C) tensor, the argument `name` of `kernel`.
  static shape part_shape(const shape& fused, const char* kernel, const char* name) {
    RLHF_EXPECTS(fused.rank == 3 && fused[2] % 3 == 0, kernel, ": ", name, " must be (B, T, 3C)");
    return shape{fused[0], fused[1], fused[2] / 3};
  }
  /// 1/sqrt(hs), the scale of the attention scores.
  template <class T>
  static T score_scale(index_t hs) {
    return static_cast<T>(1.0 / std::sqrt(static_cast<double>(hs)));
  }
};

}  // namespace rlhf::backend::thrust_detail
