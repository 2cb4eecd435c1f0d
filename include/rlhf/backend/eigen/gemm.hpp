// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Eigen backend: the two single-threaded matrix products every dense product of the backend goes
/// through. `gemm`, for the large ones,
///   C (M,N) = beta·C + alpha·op(A)·op(B),   row-major, leading dimensions lda, ldb, ldc, beta 0 or 1,
/// computed by the machine's BLAS when the build has one (RLHF_WITH_BLAS: OpenBLAS through its
/// CBLAS interface, the `rlhf::blas` CMake target, Debian's libopenblas-dev) and by Eigen's GEMM
/// otherwise. Why a BLAS: on the small-K shapes of GPT-2 training (K = 128 ... 3072) OpenBLAS's
/// hand-written AVX2/AVX-512 kernels run at 1.25–1.5× Eigen 3.4's rate (docs/kernels.md has the
/// measurements); both give the same results up to float rounding. `small_gemm`, for products
/// too small for a GEMM's operand packing to pay (a decoding step's few rows, attention's blocks
/// of 16 query rows): register-blocked SIMD multiply-adds straight from the operands.
///
/// Threads. The callers cut every product into tiles fixed by the shape and run one tile per
/// thread; the GEMM itself must stay on one thread so that the summation order of each output
/// element does not depend on the thread count (bitwise determinism). OpenBLAS's pthread build is
/// told so once (openblas_set_num_threads(1), before the first product); its OpenMP build runs
/// single-threaded by itself inside the callers' parallel regions and follows omp_get_max_threads()
/// (that is, eigen::set_num_threads(1)) outside them; its serial build has no threads.
// IWYU pragma: private
#include <algorithm>
#include <vector>

#include "rlhf/backend/eigen/common.hpp"

#if defined(RLHF_WITH_BLAS)
#include <cblas.h>
#endif

namespace rlhf::backend::eigen_detail {

/// Whether dense products go to a BLAS library (true) or to Eigen's GEMM (false).
inline constexpr bool gemm_uses_blas =
#if defined(RLHF_WITH_BLAS)
    true;
#else
    false;
#endif

#if defined(RLHF_WITH_BLAS)
namespace blas_detail {
/// Keeps OpenBLAS's own threads out (pthread build); runs once, before the first product.
inline void single_threaded_once() noexcept {
  static const bool done = [] {
#if defined(OPENBLAS_VERSION) || defined(OPENBLAS_CONFIG_H)
    if (openblas_get_parallel() == OPENBLAS_THREAD) openblas_set_num_threads(1);
#endif
    return true;
  }();
  (void)done;
}
inline CBLAS_TRANSPOSE op(bool transposed) noexcept { return transposed ? CblasTrans : CblasNoTrans; }
}  // namespace blas_detail
#endif

/// C (M,N) = beta·C + alpha·op(A)·op(B) on one thread; op(A) is (M,K), op(B) is (K,N); A is stored
/// (M,K) row-major with row stride lda, or (K,M) when `trans_a`; B likewise. beta is 0 or 1.
template <class T>
void gemm(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, T alpha, const T* A, index_t lda,
          const T* B, index_t ldb, T beta, T* C, index_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    if (beta == T(0)) mat(C, M, N, ldc).setZero();
    return;
  }
#if defined(RLHF_WITH_BLAS)
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    blas_detail::single_threaded_once();
    const auto m = static_cast<int>(M), n = static_cast<int>(N), k = static_cast<int>(K);
    const auto a = static_cast<int>(lda), b = static_cast<int>(ldb), c = static_cast<int>(ldc);
    if constexpr (std::is_same_v<T, float>)
      cblas_sgemm(CblasRowMajor, blas_detail::op(trans_a), blas_detail::op(trans_b), m, n, k, alpha, A, a, B, b, beta, C, c);
    else
      cblas_dgemm(CblasRowMajor, blas_detail::op(trans_a), blas_detail::op(trans_b), m, n, k, alpha, A, a, B, b, beta, C, c);
    return;
  }
#endif
  auto c = mat(C, M, N, ldc);
  auto product = [&](const auto& a) {
    auto run = [&](const auto& b) {
      if (beta == T(0))
        c.noalias() = alpha * a * b;
      else
        c.noalias() += alpha * a * b;
    };
    if (trans_b)
      run(mat(B, N, K, ldb).transpose());
    else
      run(mat(B, K, N, ldb));
  };
  if (trans_a)
    product(mat(A, K, M, lda).transpose());
  else
    product(mat(A, M, K, lda));
}

// Eigen's SIMD packet types (__m256 ...) as template arguments: GCC warns that their alignment
// attributes are ignored there, as it does inside Eigen, which silences it the same way.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif
namespace small_gemm_detail {
/// o (R rows, W packets) = beta·o + a (R, K) · b (K, W packets); row strides lda, ldb, ldc.
template <int R, int W, class T>
void register_tile(T* o, const T* a, const T* b, index_t K, index_t lda, index_t ldb, index_t ldc, T beta) {
  using namespace Eigen::internal;
  using P = typename packet_traits<T>::type;
  constexpr index_t S = packet_traits<T>::size;
  P acc[R][W];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < W; ++j) acc[i][j] = pset1<P>(T(0));
  for (index_t k = 0; k < K; ++k) {
    P bk[W];
    for (int j = 0; j < W; ++j) {
      bk[j] = ploadu<P>(b + k * ldb + j * S);
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
      // Keep B's packets in registers: left alone, GCC folds each load into every multiply-add
      // as a memory operand, R loads per packet instead of one, and the loads become the bound.
      if constexpr (R > 1) __asm__("" : "+x"(bk[j]));
#endif
    }
    for (int i = 0; i < R; ++i) {
      const P ai = pset1<P>(a[i * lda + k]);
      for (int j = 0; j < W; ++j) acc[i][j] = pmadd(ai, bk[j], acc[i][j]);
    }
  }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < W; ++j) {
      T* out = o + i * ldc + j * S;
      pstoreu(out, beta == T(0) ? acc[i][j] : padd(acc[i][j], ploadu<P>(out)));
    }
}
/// Column c[0] of `rows` rows (+)= a · b[:, 0]: the scalar chain every kernel here uses for the
/// last N mod S columns (one function, so one rounding: a row's result is the same in each).
template <class T>
void scalar_column(T* c, const T* a, const T* b, index_t rows, index_t K, index_t lda, index_t ldb, index_t ldc,
                   T beta) {
  for (index_t i = 0; i < rows; ++i) {
    T acc = 0;
    for (index_t k = 0; k < K; ++k) acc = Eigen::internal::pmadd(a[i * lda + k], b[k * ldb], acc);
    T& out = c[i * ldc];
    out = beta == T(0) ? acc : acc + out;
  }
}
/// R rows of C: tiles of W packets, then single packets, then scalar columns.
template <int R, int W, class T>
void row_block(T* c, const T* a, const T* b, index_t N, index_t K, index_t lda, index_t ldb, index_t ldc, T beta) {
  constexpr index_t S = Eigen::internal::packet_traits<T>::size;
  index_t n = 0;
  for (; n + W * S <= N; n += W * S) register_tile<R, W>(c + n, a, b + n, K, lda, ldb, ldc, beta);
  if constexpr (W > 2)
    for (; n + 2 * S <= N; n += 2 * S) register_tile<R, 2>(c + n, a, b + n, K, lda, ldb, ldc, beta);
  for (; n + S <= N; n += S) register_tile<R, 1>(c + n, a, b + n, K, lda, ldb, ldc, beta);
  for (; n < N; ++n) scalar_column(c + n, a, b + n, R, K, lda, ldb, ldc, beta);
}
/// c[i·ldc + j] (+)= Σ_k a_i[k]·b_j[k] for R rows a_i of A and Q rows b_j of B (both K long,
/// contiguous): one SIMD chain per (i, j) over the packets of k, reduced, then the scalar tail.
template <int R, int Q, class T>
void dot_tile(T* c, const T* a, const T* b, index_t K, index_t lda, index_t ldb, index_t ldc, T beta) {
  using namespace Eigen::internal;
  using P = typename packet_traits<T>::type;
  constexpr index_t S = packet_traits<T>::size;
  P acc[R][Q];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < Q; ++j) acc[i][j] = pset1<P>(T(0));
  index_t k = 0;
  for (; k + S <= K; k += S) {
    P bk[Q];
    for (int j = 0; j < Q; ++j) bk[j] = ploadu<P>(b + j * ldb + k);
    for (int i = 0; i < R; ++i) {
      const P ai = ploadu<P>(a + i * lda + k);
      for (int j = 0; j < Q; ++j) acc[i][j] = pmadd(ai, bk[j], acc[i][j]);
    }
  }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < Q; ++j) {
      T sum = predux(acc[i][j]);
      for (index_t t = k; t < K; ++t) sum += a[i * lda + t] * b[j * ldb + t];
      T& out = c[i * ldc + j];
      out = beta == T(0) ? sum : sum + out;
    }
}
}  // namespace small_gemm_detail

/// C (M,N) = beta·C + A (M,K) · B (K,N), all row-major with row strides lda, ldb, ldc, beta 0 or 1,
/// without packing: for products too small for a GEMM's packing to pay (attention blocks of 16
/// query rows, the few rows of a decoding step). Register tiles keep 8–12 SIMD accumulators
/// (enough independent multiply-add chains to hide their latency; with AVX2's 16 registers, room
/// for B's packets and the broadcast). Fewer than 4 rows: each block of rows streams B once
/// (1 x 8, 2 x 6, 3 x 4 packets; a k-outer stream of whole rows of B with the partial sums in L1
/// measured 2x slower, store-forwarding bound). 4 rows or more: B is cut into panels of 3 packets (K x 24
/// floats) and every block of 4 rows runs over a panel before the next; a panel whose rows lie
/// far apart in memory (a wide B: 12 KB between rows of GPT-2's c_fc, a TLB miss and no
/// prefetch per row) is first copied to a contiguous buffer, so B comes from memory once and the
/// row blocks read it from L1/L2 (without the copy these products ran at a third of OpenBLAS's
/// rate at M = 16). Every element of C is the same k-ordered chain of
/// multiply-adds, added to beta·C last, whatever M is: column ranges of whole packets are SIMD
/// and the last N mod S columns scalar in every layout, so a row's result does not depend on the
/// rows computed with it.
template <class T>
void small_gemm(index_t M, index_t N, index_t K, const T* A, index_t lda, const T* B, index_t ldb, T beta, T* C,
                index_t ldc) {
  using namespace small_gemm_detail;
  constexpr index_t S = Eigen::internal::packet_traits<T>::size;
  if (M < 4) {
    switch (M) {
      case 3: row_block<3, 4>(C, A, B, N, K, lda, ldb, ldc, beta); break;
      case 2: row_block<2, 6>(C, A, B, N, K, lda, ldb, ldc, beta); break;
      case 1: row_block<1, 8>(C, A, B, N, K, lda, ldb, ldc, beta); break;
      default: break;
    }
    return;
  }
  const bool pack = K * ldb * static_cast<index_t>(sizeof(T)) > (index_t{1} << 20);
  thread_local std::vector<T> packed;
  if (pack) packed.resize(static_cast<std::size_t>(K * 3 * S));
  auto panel = [&]<int W>(index_t n) {  // every row over columns [n, n + W·S)
    const T* b = B + n;
    index_t ld = ldb;
    if (pack) {
      using P = typename Eigen::internal::packet_traits<T>::type;
      for (index_t k = 0; k < K; ++k)
        for (int j = 0; j < W; ++j)
          Eigen::internal::pstoreu(packed.data() + (k * W + j) * S, Eigen::internal::ploadu<P>(B + k * ldb + n + j * S));
      b = packed.data();
      ld = W * S;
    }
    for (index_t m0 = 0; m0 < M; m0 += 4) {
      T* c = C + m0 * ldc + n;
      const T* a = A + m0 * lda;
      switch (std::min<index_t>(4, M - m0)) {
        case 4: register_tile<4, W>(c, a, b, K, lda, ld, ldc, beta); break;
        case 3: register_tile<3, W>(c, a, b, K, lda, ld, ldc, beta); break;
        case 2: register_tile<2, W>(c, a, b, K, lda, ld, ldc, beta); break;
        default: register_tile<1, W>(c, a, b, K, lda, ld, ldc, beta); break;
      }
    }
  };
  index_t n = 0;
  for (; n + 3 * S <= N; n += 3 * S) panel.template operator()<3>(n);
  for (; n + 2 * S <= N; n += 2 * S) panel.template operator()<2>(n);
  for (; n + S <= N; n += S) panel.template operator()<1>(n);
  for (; n < N; ++n) scalar_column(C + n, A, B + n, M, K, lda, ldb, ldc, beta);
}

/// C (M,N) = beta·C + A (M,K) · Bᵀ, B stored (N,K) row-major (the tied LM head's embedding
/// table), for few rows M: blocks of 4 rows of B stay in L1 while every row of A is dotted with
/// them, so B is read once from memory — a decoding step's head reads the table at the
/// bandwidth limit instead of packing it as a GEMM would. Every element of C is the same chain
/// (SIMD over k, reduced, the k tail, then beta·C), whatever M is and however C is cut.
template <class T>
void small_gemm_nt(index_t M, index_t N, index_t K, const T* A, index_t lda, const T* B, index_t ldb, T beta, T* C,
                   index_t ldc) {
  using namespace small_gemm_detail;
  index_t n = 0;
  for (; n + 4 <= N; n += 4) {
    index_t m = 0;
    for (; m + 2 <= M; m += 2) dot_tile<2, 4>(C + m * ldc + n, A + m * lda, B + n * ldb, K, lda, ldb, ldc, beta);
    if (m < M) dot_tile<1, 4>(C + m * ldc + n, A + m * lda, B + n * ldb, K, lda, ldb, ldc, beta);
  }
  for (; n < N; ++n) {
    index_t m = 0;
    for (; m + 2 <= M; m += 2) dot_tile<2, 1>(C + m * ldc + n, A + m * lda, B + n * ldb, K, lda, ldb, ldc, beta);
    if (m < M) dot_tile<1, 1>(C + m * ldc + n, A + m * lda, B + n * ldb, K, lda, ldb, ldc, beta);
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace rlhf::backend::eigen_detail
