// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Row-major GEMM for the thrust backend: C (M,N) = op(A)·op(B) [+ C] [+ bias].
///
/// Under nvcc on the CUDA system this is cuBLAS (cuda/cublas_gemm.cuh). On the host systems it
/// is a cache-blocked kernel written with thrust only: one task per 64×64 output tile
/// (thrust::for_each over tile ids, so OMP spreads tiles over threads and the result does not
/// depend on the thread count), K in blocks of 256; each block of op(A) and op(B) is packed
/// into contiguous, zero-padded panels so the register micro-kernel (4 rows × two SIMD
/// registers) runs with fixed trip counts, whatever the transposes. Accumulation is in T, as in BLAS.
// IWYU pragma: private
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "rlhf/backend/thrust/common.hpp"

namespace rlhf::backend::thrust_detail {

namespace gemm_detail {
inline constexpr index_t tile_m = 64;
inline constexpr index_t tile_n = 64;
inline constexpr index_t tile_k = 256;
inline constexpr index_t micro_m = 4;

// The micro-kernel keeps micro_m rows x two SIMD registers of C in registers. On a host compiler
// it is written with GNU vector types (GCC turns the plain-array form into shuffles and stack
// spills: ~1 GFLOP/s instead of ~20); nvcc's host pass keeps the portable scalar form, since on
// CUDA this path only serves the OMP/CPP systems of a test build.
#if !defined(__CUDACC__) && (defined(__GNUC__) || defined(__clang__))
#define RLHF_THRUST_GEMM_VECTOR 1
#if defined(__AVX__)
inline constexpr index_t simd_bytes = 32;
#else
inline constexpr index_t simd_bytes = 16;
#endif
template <class T>
inline constexpr index_t micro_n = 2 * simd_bytes / static_cast<index_t>(sizeof(T));
#else
template <class T>
inline constexpr index_t micro_n = 8;
#endif

/// Computes one tile_m × tile_n tile of C. Host only (the CUDA system uses cuBLAS).
template <class T>
struct host_tile {
  bool trans_a, trans_b, accumulate;
  index_t m, n, k, tiles_n;
  const T* a;
  const T* b;
  const T* bias;
  T* c;

  void operator()(index_t tile) const {
    const index_t i0 = (tile / tiles_n) * tile_m, j0 = (tile % tiles_n) * tile_n;
    const index_t mb = std::min(tile_m, m - i0), nb = std::min(tile_n, n - j0);
    // Rows and columns rounded up to the micro-kernel: the padding is zero in the panels and
    // never stored to C.
    const index_t mr = (mb + micro_m - 1) / micro_m * micro_m;
    const index_t nr = (nb + micro_n<T> - 1) / micro_n<T> * micro_n<T>;
    alignas(64) T acc[tile_m * tile_n];
    alignas(64) T ap[tile_m * tile_k];  // ap[i * tile_k + kk] = op(A)(i0 + i, k0 + kk)
    alignas(64) T bp[tile_k * tile_n];  // bp[kk * tile_n + j] = op(B)(k0 + kk, j0 + j)
    for (index_t i = 0; i < mr; ++i)
      for (index_t j = 0; j < tile_n; ++j)
        acc[i * tile_n + j] = (accumulate && i < mb && j < nb) ? c[(i0 + i) * n + j0 + j] : T(0);
    for (index_t k0 = 0; k0 < k; k0 += tile_k) {
      const index_t kb = std::min(tile_k, k - k0);
      for (index_t i = 0; i < mr; ++i)
        for (index_t kk = 0; kk < kb; ++kk)
          ap[i * tile_k + kk] = i >= mb ? T(0)
                                : trans_a ? a[(k0 + kk) * m + i0 + i]
                                          : a[(i0 + i) * k + k0 + kk];
      for (index_t kk = 0; kk < kb; ++kk)
        for (index_t j = 0; j < tile_n; ++j)
          bp[kk * tile_n + j] = j >= nb ? T(0)
                                : trans_b ? b[(j0 + j) * k + k0 + kk]
                                          : b[(k0 + kk) * n + j0 + j];
      for (index_t i = 0; i < mr; i += micro_m)
        for (index_t j = 0; j < nr; j += micro_n<T>) micro(acc, ap, bp, i, j, kb);
    }
    for (index_t i = 0; i < mb; ++i)
      for (index_t j = 0; j < nb; ++j)
        c[(i0 + i) * n + j0 + j] = acc[i * tile_n + j] + (bias ? bias[j0 + j] : T(0));
  }

  // A micro_m × micro_n block of acc kept in registers over the whole K block.
  static void micro(T* acc, const T* ap, const T* bp, index_t i, index_t j, index_t kb) {
#if defined(RLHF_THRUST_GEMM_VECTOR)
    constexpr index_t lanes = simd_bytes / static_cast<index_t>(sizeof(T)), vecs = micro_n<T> / lanes;
    typedef T vec __attribute__((vector_size(simd_bytes)));
    vec r[micro_m][vecs];
    for (index_t x = 0; x < micro_m; ++x)
      for (index_t v = 0; v < vecs; ++v) std::memcpy(&r[x][v], acc + (i + x) * tile_n + j + v * lanes, sizeof(vec));
    for (index_t kk = 0; kk < kb; ++kk) {
      vec b[vecs];
      for (index_t v = 0; v < vecs; ++v) std::memcpy(&b[v], bp + kk * tile_n + j + v * lanes, sizeof(vec));
      for (index_t x = 0; x < micro_m; ++x) {
        const T av = ap[(i + x) * tile_k + kk];
        for (index_t v = 0; v < vecs; ++v) r[x][v] += av * b[v];
      }
    }
    for (index_t x = 0; x < micro_m; ++x)
      for (index_t v = 0; v < vecs; ++v) std::memcpy(acc + (i + x) * tile_n + j + v * lanes, &r[x][v], sizeof(vec));
#else
    T r[micro_m][micro_n<T>];
    for (index_t x = 0; x < micro_m; ++x)
      for (index_t y = 0; y < micro_n<T>; ++y) r[x][y] = acc[(i + x) * tile_n + j + y];
    for (index_t kk = 0; kk < kb; ++kk) {
      const T* brow = bp + kk * tile_n + j;
      for (index_t x = 0; x < micro_m; ++x) {
        const T av = ap[(i + x) * tile_k + kk];
        for (index_t y = 0; y < micro_n<T>; ++y) r[x][y] += av * brow[y];
      }
    }
    for (index_t x = 0; x < micro_m; ++x)
      for (index_t y = 0; y < micro_n<T>; ++y) acc[(i + x) * tile_n + j + y] = r[x][y];
#endif
  }
};
}  // namespace gemm_detail

/// C (M,N) = op(A)·op(B) (+ C when accumulate) (+ bias broadcast over rows when bias != null).
/// op(A) is (M,K): A is stored (M,K), or (K,M) when trans_a; op(B) is (K,N): B is stored (K,N),
/// or (N,K) when trans_b. All pointers are memory of system S.
template <class S, class T>
void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, const T* a, const T* b,
          T* c, bool accumulate, const T* bias) {
  if (m <= 0 || n <= 0) return;
  if constexpr (!system_traits<S>::host_accessible) {
#if defined(__CUDACC__)
    if (!accumulate) {
      // cuBLAS adds beta·C: seed C with the bias (or zeros) and accumulate onto it.
      for_n<S>(m * n, [=] RLHF_HOST_DEVICE(index_t idx) { c[idx] = bias ? bias[idx % n] : T(0); });
    } else if (bias) {
      for_n<S>(m * n, [=] RLHF_HOST_DEVICE(index_t idx) { c[idx] += bias[idx % n]; });
    }
    if (k > 0) detail::cublas_gemm_row_major(trans_a, trans_b, m, n, k, a, b, c, T(1));
#endif
  } else {
    const index_t tiles_n = (n + gemm_detail::tile_n - 1) / gemm_detail::tile_n;
    const index_t tiles_m = (m + gemm_detail::tile_m - 1) / gemm_detail::tile_m;
    for_n<S>(tiles_m * tiles_n, gemm_detail::host_tile<T>{trans_a, trans_b, accumulate, m, n, k,
                                                           tiles_n, a, b, bias, c});
  }
}

}  // namespace rlhf::backend::thrust_detail
