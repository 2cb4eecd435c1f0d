// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Thrust backend, dense layer: out = inp · W + bias, W (K,N) or, with `transpose_weight`,
/// (N,K) (the tied-embedding LM head), and its backward pass; every product is one call of
/// thrust_detail::gemm (cuBLAS under nvcc, the blocked host kernel otherwise).
// IWYU pragma: private
#include "rlhf/backend/thrust/gemm.hpp"

namespace rlhf::backend::thrust_detail {

template <class S>
struct matmul_kernels {
  /// out (M,N) = inp (M,K) · W + bias. Leading dimensions of inp/out are flattened into M.
  template <class T>
  static void matmul_forward(out_view<T, S> out, in_view<T, S> inp, in_view<T, S> weight,
                             in_view<T, S> bias, bool transpose_weight) {
    const index_t m = inp.rows(), k = inp.cols(), n = out.cols();
    check<T>(out.rows(), m, weight, k, n, transpose_weight, "matmul_forward");
    if (!bias.empty()) expect_shape(bias.extents(), shape{n}, "matmul_forward: bias");
    if (out.empty()) return;
    gemm<S>(false, transpose_weight, m, n, k, inp.data(), weight.data(), out.data(), false,
            data_or_null(bias));
  }

  /// dinp += dout·op(W)ᵀ, dW += inpᵀ·dout (or doutᵀ·inp when transposed), dbias += Σ_rows dout
  /// (double accumulation, one task per column). Empty gradient views are skipped.
  template <class T>
  static void matmul_backward(out_view<T, S> dinp, out_view<T, S> dweight, out_view<T, S> dbias,
                              in_view<T, S> dout, in_view<T, S> inp, in_view<T, S> weight,
                              bool transpose_weight) {
    const index_t m = inp.rows(), k = inp.cols(), n = dout.cols();
    check<T>(dout.rows(), m, weight, k, n, transpose_weight, "matmul_backward");
    if (!dinp.empty()) expect_shape(dinp.extents(), inp.extents(), "matmul_backward: dinp");
    if (!dweight.empty()) expect_shape(dweight.extents(), weight.extents(), "matmul_backward: dweight");
    if (!dbias.empty()) expect_shape(dbias.extents(), shape{n}, "matmul_backward: dbias");
    if (m == 0 || n == 0 || k == 0) return;
    const T* none = nullptr;
    // dinp (M,K) += dout (M,N) · Bmat (N,K) with Bmat = Wᵀ: W (K,N) is Bmat stored transposed.
    if (!dinp.empty())
      gemm<S>(false, !transpose_weight, m, k, n, dout.data(), weight.data(), dinp.data(), true, none);
    if (!dweight.empty()) {
      if (transpose_weight)  // dW (N,K) += doutᵀ (N,M) · inp (M,K)
        gemm<S>(true, false, n, k, m, dout.data(), inp.data(), dweight.data(), true, none);
      else  // dW (K,N) += inpᵀ (K,M) · dout (M,N)
        gemm<S>(true, false, k, n, m, inp.data(), dout.data(), dweight.data(), true, none);
    }
    if (!dbias.empty()) {
      T* db = dbias.data();
      const T* g = dout.data();
      for_n<S>(n, [=] RLHF_HOST_DEVICE(index_t j) {
        double s = 0.0;
        for (index_t r = 0; r < m; ++r) s += g[r * n + j];
        db[j] += static_cast<T>(s);
      });
    }
  }

 private:
  template <class T>
  static void check(index_t out_rows, index_t m, in_view<T, S> weight, index_t k, index_t n,
                    bool transposed, const char* kernel) {
    RLHF_EXPECTS(out_rows == m, kernel, ": the output/dout has ", out_rows,
                 " rows but the input has ", m, "; they must agree");
    RLHF_EXPECTS(weight.rank() == 2, kernel, ": weight must be a matrix, got rank ", weight.rank());
    expect_shape(weight.extents(), transposed ? shape{n, k} : shape{k, n},
                 transposed ? "matmul weight (transposed, N x K)" : "matmul weight (K x N)");
  }
};

}  // namespace rlhf::backend::thrust_detail
