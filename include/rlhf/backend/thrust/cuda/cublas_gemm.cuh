// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Row-major GEMM on cuBLAS: C (M,N) = op(A) (M,K) · op(B) (K,N) + beta·C.
///
/// cuBLAS is column-major; a row-major matrix read column-major is its transpose, so the
/// row-major product C = op(A)·op(B) is computed as the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ by
/// swapping the operands (the "transposition trick"), with no copies. nvcc only.
#include <cublas_v2.h>

#include "rlhf/backend/thrust/cuda/check.cuh"
#include "rlhf/core/view.hpp"

namespace rlhf::backend::detail {

/// One cuBLAS handle per host thread, created on first use and destroyed at thread exit
/// (a handle is not safe to share between threads issuing work concurrently).
inline cublasHandle_t cublas_handle() {
  struct holder {
    cublasHandle_t h = nullptr;
    holder() { RLHF_CUBLAS_CHECK(cublasCreate(&h)); }
    ~holder() {
      if (h) cublasDestroy(h);
    }
  };
  thread_local holder handle;
  return handle.h;
}

/// C (M,N) = op(A)·op(B) + beta·C, all row-major. op(A) is (M,K): A is stored (M,K), or (K,M)
/// when trans_a. op(B) is (K,N): B is stored (K,N), or (N,K) when trans_b.
template <class T>
void cublas_gemm_row_major(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, const T* a,
                           const T* b, T* c, T beta) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "cuBLAS GEMM is wired for float and double");
  RLHF_EXPECTS(m <= INT32_MAX && n <= INT32_MAX && k <= INT32_MAX,
               "matmul: dimensions (", m, ", ", n, ", ", k, ") exceed cuBLAS's 32-bit limit");
  const T alpha = T(1);
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int ldb = static_cast<int>(trans_b ? k : n);
  const int lda = static_cast<int>(trans_a ? m : k);
  const int ldc = static_cast<int>(n);
  if constexpr (std::is_same_v<T, float>) {
    RLHF_CUBLAS_CHECK(cublasSgemm(cublas_handle(), op_b, op_a, static_cast<int>(n),
                                  static_cast<int>(m), static_cast<int>(k), &alpha, b, ldb, a, lda,
                                  &beta, c, ldc));
  } else {
    RLHF_CUBLAS_CHECK(cublasDgemm(cublas_handle(), op_b, op_a, static_cast<int>(n),
                                  static_cast<int>(m), static_cast<int>(k), &alpha, b, ldb, a, lda,
                                  &beta, c, ldc));
  }
}

/// Copies n elements between device memory and host memory (cudaMemcpy of `kind`, synchronous).
template <class T>
void cuda_copy(T* dst, const T* src, index_t n, cudaMemcpyKind kind) {
  RLHF_CUDA_CHECK(cudaMemcpy(dst, src, sizeof(T) * static_cast<std::size_t>(n), kind));
}

}  // namespace rlhf::backend::detail
