// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Eigen backend: the one single-threaded GEMM every dense product of the backend goes through,
///   C (M,N) = beta·C + op(A) · op(B),   row-major, leading dimensions lda, ldb, ldc, beta 0 or 1,
/// computed by the machine's BLAS when the build has one (RLHF_WITH_BLAS: OpenBLAS through its
/// CBLAS interface, the `rlhf::blas` CMake target, Debian's libopenblas-dev) and by Eigen's GEMM
/// otherwise. Why a BLAS: on the small-K shapes of GPT-2 training (K = 128 ... 3072) OpenBLAS's
/// hand-written AVX2/AVX-512 kernels run at 1.25–1.5× Eigen 3.4's rate (docs/kernels.md has the
/// measurements); both give the same results up to float rounding.
///
/// Threads. The callers cut every product into tiles fixed by the shape and run one tile per
/// thread; the GEMM itself must stay on one thread so that the summation order of each output
/// element does not depend on the thread count (bitwise determinism). OpenBLAS's pthread build is
/// told so once (openblas_set_num_threads(1), before the first product); its OpenMP build runs
/// single-threaded by itself inside the callers' parallel regions and follows omp_get_max_threads()
/// (that is, eigen::set_num_threads(1)) outside them; its serial build has no threads.
// IWYU pragma: private
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

/// C (M,N) = beta·C + op(A)·op(B) on one thread; op(A) is (M,K), op(B) is (K,N); A is stored
/// (M,K) row-major with row stride lda, or (K,M) when `trans_a`; B likewise. beta is 0 or 1.
template <class T>
void gemm(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, const T* A, index_t lda, const T* B,
          index_t ldb, T beta, T* C, index_t ldc) {
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
      cblas_sgemm(CblasRowMajor, blas_detail::op(trans_a), blas_detail::op(trans_b), m, n, k, 1.0f, A, a, B, b, beta, C, c);
    else
      cblas_dgemm(CblasRowMajor, blas_detail::op(trans_a), blas_detail::op(trans_b), m, n, k, 1.0, A, a, B, b, beta, C, c);
    return;
  }
#endif
  auto c = mat(C, M, N, ldc);
  auto product = [&](const auto& a) {
    auto run = [&](const auto& b) {
      if (beta == T(0))
        c.noalias() = a * b;
      else
        c.noalias() += a * b;
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

}  // namespace rlhf::backend::eigen_detail
