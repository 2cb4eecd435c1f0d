// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Eigen backend, dense layer: out = inp · W + bias (W is (K,N), or (N,K) when
/// `transpose_weight`, the tied-embedding LM head), and its backward pass.
///
/// Every product is one single-threaded GEMM per tile (eigen/gemm.hpp: the BLAS when the build
/// has one, Eigen's GEMM otherwise) on row-major memory. The output is cut into tiles fixed by the
/// shape alone; each tile is one single-threaded GEMM over the full K, so the summation
/// order of every output element is the same for any thread count (bitwise determinism). Tiles
/// are 512 rows (about a GEMM's own L2 block) by up to 4096 columns, so the GEMM's cache blocking
/// works on wide panels; an output of at most 512 rows (decoding, the LM head on a few rows) is
/// cut into 512-column tiles instead, so that it still spreads over the threads.
// IWYU pragma: private
#include "rlhf/backend/eigen/common.hpp"
#include "rlhf/backend/eigen/gemm.hpp"

namespace rlhf::backend::eigen_detail {

struct matmul_kernels {
  static constexpr index_t tile_rows = 512;
  static constexpr index_t tile_cols = 4096;
  static constexpr index_t tile_cols_short = 512;  // when R <= tile_rows

  /// out (M,N) = inp (M,K) · W + bias. Leading dimensions of inp/out are flattened into M.
  template <class T>
  static void matmul_forward(out_view<T> out, in_view<T> inp, in_view<T> weight, in_view<T> bias,
                             bool transpose_weight) {
    const index_t M = inp.rows(), K = inp.cols(), N = out.cols();
    check<T>(out.rows(), M, weight, K, N, transpose_weight, "matmul_forward");
    if (!bias.empty()) expect_shape(bias.extents(), shape{N}, "matmul_forward: bias");
    if (M == 0 || N == 0) return;
    if (M <= few_rows) {  // column tiles of 128: a task per thread even for C = 128
      parallel_tasks((N + few_rows_cols - 1) / few_rows_cols, [&](index_t t) {
        const index_t c0 = t * few_rows_cols, nc = std::min(few_rows_cols, N - c0);
        if (!bias.empty())
          for (index_t r = 0; r < M; ++r) std::copy_n(bias.data() + c0, nc, out.data() + r * N + c0);
        const T beta = bias.empty() ? T(0) : T(1);
        if (transpose_weight)  // W (N,K): rows c0 .. c0+nc of W dotted with each input row
          small_gemm_nt<T>(M, nc, K, inp.data(), K, weight.data() + c0 * K, K, beta, out.data() + c0, N);
        else
          small_gemm<T>(M, nc, K, inp.data(), K, weight.data() + c0, N, beta, out.data() + c0, N);
      });
      return;
    }
    tiled(M, N, [&](index_t r0, index_t mr, index_t c0, index_t nc) {
      T* o = out.data() + r0 * N + c0;
      if (!bias.empty())
        mat(o, mr, nc, N).rowwise() = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(bias.data() + c0, nc);
      const T beta = bias.empty() ? T(0) : T(1);
      if (transpose_weight)  // W (N,K): out = inp · W[c0 .. c0+nc)ᵀ
        gemm<T>(false, true, mr, nc, K, T(1), inp.data() + r0 * K, K, weight.data() + c0 * K, K, beta, o, N);
      else
        gemm<T>(false, false, mr, nc, K, T(1), inp.data() + r0 * K, K, weight.data() + c0, N, beta, o, N);
    });
  }

  /// dinp += dout · Wᵀ, dweight += inpᵀ · dout (or doutᵀ · inp when transposed),
  /// dbias += Σ_rows dout (double accumulation). Empty gradient views are skipped.
  template <class T>
  static void matmul_backward(out_view<T> dinp, out_view<T> dweight, out_view<T> dbias,
                              in_view<T> dout, in_view<T> inp, in_view<T> weight, bool transpose_weight) {
    const index_t M = inp.rows(), K = inp.cols(), N = dout.cols();
    check<T>(dout.rows(), M, weight, K, N, transpose_weight, "matmul_backward");
    if (!dinp.empty()) expect_same(dinp, inp, "matmul_backward: dinp");
    if (!dweight.empty()) expect_same(dweight, weight, "matmul_backward: dweight");
    if (!dbias.empty()) expect_shape(dbias.extents(), shape{N}, "matmul_backward: dbias");
    if (M == 0) return;
    if (!dinp.empty() && N > 0)
      tiled(M, K, [&](index_t r0, index_t mr, index_t c0, index_t nc) {
        T* d = dinp.data() + r0 * K + c0;
        const T* g = dout.data() + r0 * N;
        if (transpose_weight)  // W (N,K): dinp += dout · W
          gemm<T>(false, false, mr, nc, N, T(1), g, N, weight.data() + c0, K, T(1), d, K);
        else  // W (K,N): dinp += dout · Wᵀ
          gemm<T>(false, true, mr, nc, N, T(1), g, N, weight.data() + c0 * N, N, T(1), d, K);
      });
    if (!dweight.empty()) {
      if (transpose_weight)  // dW (N,K) += doutᵀ · inp
        tiled(N, K, [&](index_t r0, index_t mr, index_t c0, index_t nc) {
          gemm<T>(true, false, mr, nc, M, T(1), dout.data() + r0, N, inp.data() + c0, K, T(1),
                  dweight.data() + r0 * K + c0, K);
        });
      else  // dW (K,N) += inpᵀ · dout
        tiled(K, N, [&](index_t r0, index_t mr, index_t c0, index_t nc) {
          gemm<T>(true, false, mr, nc, M, T(1), inp.data() + r0, K, dout.data() + c0, N, T(1),
                  dweight.data() + r0 * N + c0, N);
        });
    }
    if (!dbias.empty()) {
      const auto s = column_sums(M, N, [&](index_t r, double* acc) {
        const T* g = dout.data() + r * N;
        for (index_t j = 0; j < N; ++j) acc[j] += static_cast<double>(g[j]);
      });
      for (index_t j = 0; j < N; ++j) dbias.data()[j] += static_cast<T>(s[static_cast<std::size_t>(j)]);
    }
  }

 private:
  /// Rows up to which the forward product is small_gemm (eigen/gemm.hpp), not a packing GEMM: a
  /// GEMM packs all of W (K x N) on every call, which for the few rows of a decoding step costs as
  /// much as the product itself. small_gemm computes every output element as the same k-ordered
  /// chain of multiply-adds whatever M and the tiling are, so a row's result does not depend on
  /// the batch it is decoded in.
  static constexpr index_t few_rows = 32;
  static constexpr index_t few_rows_cols = 128;

  template <class T>
  static void check(index_t out_rows, index_t M, in_view<T> weight, index_t K, index_t N, bool transposed,
                    const char* kernel) {
    RLHF_EXPECTS(out_rows == M, kernel, ": the output/dout has ", out_rows, " rows but the input has ", M,
                 "; they must agree");
    RLHF_EXPECTS(weight.rank() == 2, kernel, ": weight must be a matrix, got shape ", shape_string(weight.extents()));
    expect_shape(weight.extents(), transposed ? shape{N, K} : shape{K, N},
                 transposed ? "matmul weight (transposed, N x K)" : "matmul weight (K x N)");
  }
  /// f(r0, rows, c0, cols) over the fixed tiles of an R × C output.
  template <class F>
  static void tiled(index_t R, index_t C, F&& f) {
    const index_t width = R <= tile_rows ? tile_cols_short : tile_cols;  // a function of the shape only
    const index_t tr = (R + tile_rows - 1) / tile_rows, tc = (C + width - 1) / width;
    parallel_tasks(tr * tc, [&](index_t t) {
      const index_t r0 = (t / tc) * tile_rows, c0 = (t % tc) * width;
      f(r0, std::min(tile_rows, R - r0), c0, std::min(width, C - c0));
    });
  }
};

}  // namespace rlhf::backend::eigen_detail
