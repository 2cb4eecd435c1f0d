// SPDX-License-Identifier: MIT
// The Eigen backend's kernels next to the raw Eigen operation of the same shape, so the
// overhead of our layer reads as a ratio of the two rates (GFLOP/s for products, GB/s for
// memory-bound kernels). Shapes: tiny GPT (B·T = 1024, C = 128, MLP 4C, V = 256) and GPT-2
// small (C = 768, B·T = 1024; the V = 50257 head on B·T = 64 rows).
// With the BLAS (RLHF_WITH_BLAS) the matmuls are also paired with one untiled OpenBLAS sgemm.
// Run single-threaded: OMP_NUM_THREADS=1 ./rlhf_backend_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include <algorithm>

#include "rlhf/backend/eigen.hpp"
#include "rlhf/core/rng.hpp"
#include "ratio_main.hpp"

namespace {

using rlhf::index_t;
using rlhf::shape;
using B = rlhf::backend::eigen;
using buf = rlhf::host_buffer<float>;
using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using mat_map = Eigen::Map<row_major>;

buf filled(shape s, std::uint64_t seed, float scale = 1.0f) {
  buf b(s);
  rlhf::counter_rng rng(seed, 0);
  for (index_t i = 0; i < b.size(); ++i) b.data()[i] = scale * static_cast<float>(rng.normal(static_cast<std::uint64_t>(i)));
  return b;
}
void flops(benchmark::State& st, double per_iter) {
  st.counters["GFLOP/s"] = benchmark::Counter(per_iter * 1e-9 * static_cast<double>(st.iterations()),
                                              benchmark::Counter::kIsRate);
}
void bytes(benchmark::State& st, double per_iter) {
  st.counters["GB/s"] = benchmark::Counter(per_iter * 1e-9 * static_cast<double>(st.iterations()),
                                           benchmark::Counter::kIsRate);
}

// ---- matmul: args M, K, N, transposed ---------------------------------------------------
void BM_matmul_forward(benchmark::State& st) {
  const index_t M = st.range(0), K = st.range(1), N = st.range(2);
  const bool tr = st.range(3) != 0;
  auto x = filled({M, K}, 1), w = filled(tr ? shape{N, K} : shape{K, N}, 2, 0.05f), bias = filled({N}, 3);
  buf out({M, N});
  for (auto _ : st) {
    B::matmul_forward(out.view(), x.view(), w.view(), bias.view(), tr);
    benchmark::DoNotOptimize(out.data());
  }
  flops(st, 2.0 * M * K * N);
}
void BM_raw_eigen_sgemm(benchmark::State& st) {
  const index_t M = st.range(0), K = st.range(1), N = st.range(2);
  const bool tr = st.range(3) != 0;
  auto x = filled({M, K}, 1), w = filled(tr ? shape{N, K} : shape{K, N}, 2, 0.05f), bias = filled({N}, 3);
  buf out({M, N});
  mat_map o(out.data(), M, N), a(x.data(), M, K);
  for (auto _ : st) {
    o.rowwise() = Eigen::Map<Eigen::RowVectorXf>(bias.data(), N);
    if (tr)
      o.noalias() += a * mat_map(w.data(), N, K).transpose();
    else
      o.noalias() += a * mat_map(w.data(), K, N);
    benchmark::DoNotOptimize(out.data());
  }
  flops(st, 2.0 * M * K * N);
}
void BM_matmul_backward(benchmark::State& st) {
  const index_t M = st.range(0), K = st.range(1), N = st.range(2);
  const bool tr = st.range(3) != 0;
  auto x = filled({M, K}, 1), w = filled(tr ? shape{N, K} : shape{K, N}, 2, 0.05f), g = filled({M, N}, 3);
  buf dx({M, K}), dw(tr ? shape{N, K} : shape{K, N}), db({N});
  for (auto _ : st) {
    B::matmul_backward(dx.view(), dw.view(), db.view(), g.view(), x.view(), w.view(), tr);
    benchmark::DoNotOptimize(dw.data());
  }
  flops(st, 4.0 * M * K * N);
}
void BM_raw_eigen_sgemm_backward(benchmark::State& st) {
  const index_t M = st.range(0), K = st.range(1), N = st.range(2);
  if (st.range(3) != 0) return st.SkipWithError("the raw Eigen reference covers W (K,N) only");
  auto x = filled({M, K}, 1), w = filled({K, N}, 2, 0.05f), g = filled({M, N}, 3);
  buf dx({M, K}), dw({K, N}), db({N});
  mat_map X(x.data(), M, K), W(w.data(), K, N), G(g.data(), M, N), DX(dx.data(), M, K), DW(dw.data(), K, N);
  Eigen::Map<Eigen::RowVectorXf> DB(db.data(), N);
  for (auto _ : st) {
    DX.noalias() += G * W.transpose();
    DW.noalias() += X.transpose() * G;
    DB += G.colwise().sum();
    benchmark::DoNotOptimize(dw.data());
  }
  flops(st, 4.0 * M * K * N);
}
#if defined(RLHF_WITH_BLAS)
// The same products as single cblas_sgemm calls on one OpenBLAS thread, untiled: the machine's
// rate our matmul (tiled, one GEMM per tile) must reach (docs/kernels.md: >= 0.95x).
// One OpenBLAS thread, as the backend runs it (its own set-up, not a copy of it).
void openblas_one_thread() { rlhf::backend::eigen_detail::blas_detail::single_threaded_once(); }
void BM_raw_openblas_sgemm(benchmark::State& st) {
  openblas_one_thread();
  const index_t M = st.range(0), K = st.range(1), N = st.range(2);
  const bool tr = st.range(3) != 0;
  auto x = filled({M, K}, 1), w = filled(tr ? shape{N, K} : shape{K, N}, 2, 0.05f), bias = filled({N}, 3);
  buf out({M, N});
  const int m = int(M), k = int(K), n = int(N);
  for (auto _ : st) {
    for (index_t r = 0; r < M; ++r) std::copy(bias.data(), bias.data() + N, out.data() + r * N);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, tr ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, x.data(), k, w.data(),
                tr ? k : n, 1.0f, out.data(), n);
    benchmark::DoNotOptimize(out.data());
  }
  flops(st, 2.0 * M * K * N);
}
void BM_raw_openblas_sgemm_backward(benchmark::State& st) {
  openblas_one_thread();
  const index_t M = st.range(0), K = st.range(1), N = st.range(2);
  const bool tr = st.range(3) != 0;
  auto x = filled({M, K}, 1), w = filled(tr ? shape{N, K} : shape{K, N}, 2, 0.05f), g = filled({M, N}, 3);
  buf dx({M, K}), dw(tr ? shape{N, K} : shape{K, N}), db({N});
  const int m = int(M), k = int(K), n = int(N);
  std::vector<double> acc(static_cast<std::size_t>(N));
  for (auto _ : st) {
    if (tr) {  // W (N,K): dx += g W, dW += gᵀ x
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, k, n, 1.0f, g.data(), n, w.data(), k, 1.0f, dx.data(), k);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, k, m, 1.0f, g.data(), n, x.data(), k, 1.0f, dw.data(), k);
    } else {  // W (K,N): dx += g Wᵀ, dW += xᵀ g
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, k, n, 1.0f, g.data(), n, w.data(), n, 1.0f, dx.data(), k);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, n, m, 1.0f, x.data(), k, g.data(), n, 1.0f, dw.data(), n);
    }
    std::fill(acc.begin(), acc.end(), 0.0);  // the bias gradient in double, as the kernel sums it
    for (index_t r = 0; r < M; ++r)
      for (index_t j = 0; j < N; ++j) acc[j] += g.data()[r * N + j];
    for (index_t j = 0; j < N; ++j) db.data()[j] += static_cast<float>(acc[j]);
    benchmark::DoNotOptimize(dw.data());
  }
  flops(st, 4.0 * M * K * N);
}
#endif
#define RLHF_GEMM_SHAPES                                                                              \
  Args({1024, 128, 384, 0})->Args({1024, 128, 512, 0})->Args({1024, 512, 128, 0})->Args(            \
      {1024, 128, 256, 1})->Args({1024, 768, 768, 0})->Args({1024, 768, 3072, 0})->Args(             \
      {1024, 3072, 768, 0})->Args({64, 768, 50257, 1})->ArgNames({"M", "K", "N", "T"})
// A decoding step's few rows (M <= 32: small_gemm / small_gemm_nt, no packing), both models.
#define RLHF_FEW_ROWS_SHAPES                                                                           \
  Args({1, 128, 384, 0})->Args({4, 128, 384, 0})->Args({8, 128, 384, 0})->Args({16, 128, 384, 0})->Args( \
      {4, 768, 3072, 0})->Args({8, 768, 3072, 0})->Args({1, 128, 256, 1})->Args({16, 128, 256, 1})->Args( \
      {1, 768, 2304, 0})->Args({16, 768, 3072, 0})->Args({32, 768, 2304, 0})->Args({32, 3072, 768, 0})->Args( \
      {1, 768, 50257, 1})->Args({16, 768, 50257, 1})->Args({32, 768, 50257, 1})->ArgNames({"M", "K", "N", "T"})
BENCHMARK(BM_matmul_forward)->RLHF_GEMM_SHAPES->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_matmul_forward)->RLHF_FEW_ROWS_SHAPES->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_raw_eigen_sgemm)->RLHF_GEMM_SHAPES->Unit(benchmark::kMicrosecond);
// Backward shapes: every layer of both models, W (K,N), and the tied heads (T = 1, W (N,K)).
#define RLHF_GEMM_BACKWARD_SHAPES                                                                     \
  Args({1024, 128, 384, 0})->Args({1024, 128, 128, 0})->Args({1024, 128, 512, 0})->Args(            \
      {1024, 512, 128, 0})->Args({1024, 128, 256, 1})->Args({1024, 768, 2304, 0})->Args(            \
      {1024, 768, 768, 0})->Args({1024, 768, 3072, 0})->Args({1024, 3072, 768, 0})->Args(           \
      {64, 768, 50257, 1})->ArgNames({"M", "K", "N", "T"})
BENCHMARK(BM_matmul_backward)->RLHF_GEMM_BACKWARD_SHAPES->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_raw_eigen_sgemm_backward)->Args({1024, 128, 512, 0})->Args({1024, 768, 768, 0})->ArgNames({"M", "K", "N", "T"})->Unit(benchmark::kMicrosecond);
#if defined(RLHF_WITH_BLAS)
BENCHMARK(BM_raw_openblas_sgemm)->RLHF_GEMM_SHAPES->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_raw_openblas_sgemm)->RLHF_FEW_ROWS_SHAPES->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_raw_openblas_sgemm_backward)->RLHF_GEMM_BACKWARD_SHAPES->Unit(benchmark::kMicrosecond);
#endif

// ---- layernorm: args N, C -----------------------------------------------------------------
void BM_layernorm_forward(benchmark::State& st) {
  const index_t N = st.range(0), C = st.range(1);
  auto x = filled({N, C}, 4), w = filled({C}, 5), b = filled({C}, 6);
  buf out({N, C}), mean({N}), rstd({N});
  for (auto _ : st) {
    B::layernorm_forward(out.view(), mean.view(), rstd.view(), x.view(), w.view(), b.view(), 1e-5f);
    benchmark::DoNotOptimize(out.data());
  }
  bytes(st, 2.0 * N * C * sizeof(float));
}
void BM_raw_eigen_layernorm(benchmark::State& st) {
  const index_t N = st.range(0), C = st.range(1);
  auto x = filled({N, C}, 4), w = filled({C}, 5), b = filled({C}, 6);
  buf out({N, C});
  Eigen::Map<Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> X(x.data(), N, C), O(out.data(), N, C);
  Eigen::Map<Eigen::Array<float, 1, Eigen::Dynamic>> W(w.data(), C), Bi(b.data(), C);
  for (auto _ : st) {
    for (index_t r = 0; r < N; ++r) {
      const float mu = X.row(r).mean();
      const float rs = 1.0f / std::sqrt((X.row(r) - mu).square().mean() + 1e-5f);
      O.row(r) = (X.row(r) - mu) * rs * W + Bi;
    }
    benchmark::DoNotOptimize(out.data());
  }
  bytes(st, 2.0 * N * C * sizeof(float));
}
void BM_layernorm_backward(benchmark::State& st) {
  const index_t N = st.range(0), C = st.range(1);
  auto x = filled({N, C}, 4), w = filled({C}, 5), b = filled({C}, 6), g = filled({N, C}, 7);
  buf out({N, C}), mean({N}), rstd({N}), dx({N, C}), dw({C}), db({C});
  B::layernorm_forward(out.view(), mean.view(), rstd.view(), x.view(), w.view(), b.view(), 1e-5f);
  for (auto _ : st) {
    B::layernorm_backward(dx.view(), dw.view(), db.view(), g.view(), x.view(), w.view(), mean.view(), rstd.view());
    benchmark::DoNotOptimize(dx.data());
  }
  bytes(st, 4.0 * N * C * sizeof(float));
}
BENCHMARK(BM_layernorm_forward)->Args({1024, 128})->Args({1024, 768});
BENCHMARK(BM_raw_eigen_layernorm)->Args({1024, 128})->Args({1024, 768});
BENCHMARK(BM_layernorm_backward)->Args({1024, 128})->Args({1024, 768});

// ---- gelu: arg n ----------------------------------------------------------------------------
void BM_gelu_forward(benchmark::State& st) {
  const index_t n = st.range(0);
  auto x = filled({n}, 8);
  buf out({n});
  for (auto _ : st) {
    B::gelu_forward(out.view(), x.view());
    benchmark::DoNotOptimize(out.data());
  }
  bytes(st, 2.0 * n * sizeof(float));
}
void BM_raw_eigen_gelu(benchmark::State& st) {
  const index_t n = st.range(0);
  auto x = filled({n}, 8);
  buf out({n});
  Eigen::Map<Eigen::ArrayXf> X(x.data(), n), O(out.data(), n);
  for (auto _ : st) {
    O = 0.5f * X * (1.0f + (0.7978845608f * (X + 0.044715f * X.cube())).tanh());
    benchmark::DoNotOptimize(out.data());
  }
  bytes(st, 2.0 * n * sizeof(float));
}
void BM_gelu_backward(benchmark::State& st) {
  const index_t n = st.range(0);
  auto x = filled({n}, 8), g = filled({n}, 9);
  buf dx({n});
  for (auto _ : st) {
    B::gelu_backward(dx.view(), g.view(), x.view());
    benchmark::DoNotOptimize(dx.data());
  }
  bytes(st, 4.0 * n * sizeof(float));
}
BENCHMARK(BM_gelu_forward)->Arg(1024 * 512)->Arg(1024 * 3072);
BENCHMARK(BM_raw_eigen_gelu)->Arg(1024 * 512)->Arg(1024 * 3072);
BENCHMARK(BM_gelu_backward)->Arg(1024 * 512)->Arg(1024 * 3072);

// ---- softmax / cross_entropy: args N, V -------------------------------------------------------
void BM_log_softmax_forward(benchmark::State& st) {
  const index_t N = st.range(0), V = st.range(1);
  auto x = filled({N, V}, 10, 3.0f);
  buf out({N, V});
  for (auto _ : st) {
    B::log_softmax_forward(out.view(), x.view());
    benchmark::DoNotOptimize(out.data());
  }
  bytes(st, 2.0 * N * V * sizeof(float));
}
void BM_raw_eigen_log_softmax(benchmark::State& st) {
  const index_t N = st.range(0), V = st.range(1);
  auto x = filled({N, V}, 10, 3.0f);
  buf out({N, V});
  for (auto _ : st) {
    for (index_t r = 0; r < N; ++r) {
      Eigen::Map<Eigen::ArrayXf> xr(x.data() + r * V, V), o(out.data() + r * V, V);
      const float m = xr.maxCoeff();
      o = (xr - m).exp();
      o = xr - (m + std::log(o.sum()));
    }
    benchmark::DoNotOptimize(out.data());
  }
  bytes(st, 2.0 * N * V * sizeof(float));
}
void BM_cross_entropy_forward(benchmark::State& st) {
  const index_t N = st.range(0), V = st.range(1);
  auto x = filled({N, V}, 10, 3.0f);
  std::vector<std::int32_t> t(static_cast<std::size_t>(N));
  for (index_t i = 0; i < N; ++i) t[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 31) % V);
  buf logp({N}), lse({N});
  const rlhf::view<const std::int32_t, rlhf::host_space> tv(t.data(), {N});
  for (auto _ : st) {
    B::cross_entropy_forward(logp.view(), lse.view(), x.view(), tv);
    benchmark::DoNotOptimize(logp.data());
  }
  bytes(st, 1.0 * N * V * sizeof(float));
}
void BM_cross_entropy_backward(benchmark::State& st) {
  const index_t N = st.range(0), V = st.range(1);
  auto x = filled({N, V}, 10, 3.0f), g = filled({N}, 11);
  std::vector<std::int32_t> t(static_cast<std::size_t>(N));
  for (index_t i = 0; i < N; ++i) t[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 31) % V);
  buf logp({N}), lse({N}), dx({N, V});
  const rlhf::view<const std::int32_t, rlhf::host_space> tv(t.data(), {N});
  B::cross_entropy_forward(logp.view(), lse.view(), x.view(), tv);
  for (auto _ : st) {
    B::cross_entropy_backward(dx.view(), g.view(), x.view(), lse.view(), tv);
    benchmark::DoNotOptimize(dx.data());
  }
  bytes(st, 3.0 * N * V * sizeof(float));
}
BENCHMARK(BM_log_softmax_forward)->Args({1024, 256})->Args({64, 50257});
BENCHMARK(BM_raw_eigen_log_softmax)->Args({1024, 256})->Args({64, 50257});
BENCHMARK(BM_cross_entropy_forward)->Args({1024, 256})->Args({64, 50257});
BENCHMARK(BM_cross_entropy_backward)->Args({1024, 256})->Args({64, 50257});

// ---- attention: args B, T, C, NH (training, no cache) and a decoding step ----------------------
void BM_attention_forward(benchmark::State& st) {
  const index_t Bn = st.range(0), T = st.range(1), C = st.range(2);
  const int NH = static_cast<int>(st.range(3));
  auto q = filled({Bn, T, C}, 12), k = filled({Bn, T, C}, 13), v = filled({Bn, T, C}, 14);
  buf out({Bn, T, C}), probs({Bn, NH, T, T});
  const rlhf::view<const float, rlhf::host_space> nf;
  const rlhf::view<const std::int32_t, rlhf::host_space> ni;
  for (auto _ : st) {
    B::attention_forward(out.view(), probs.view(), q.view(), k.view(), v.view(), nf, nf, ni, ni, NH);
    benchmark::DoNotOptimize(out.data());
  }
  flops(st, 4.0 * Bn * T * T * C);  // QKᵀ and PV, full (unmasked) count
}
void BM_attention_backward(benchmark::State& st) {
  const index_t Bn = st.range(0), T = st.range(1), C = st.range(2);
  const int NH = static_cast<int>(st.range(3));
  auto q = filled({Bn, T, C}, 12), k = filled({Bn, T, C}, 13), v = filled({Bn, T, C}, 14), g = filled({Bn, T, C}, 15);
  buf out({Bn, T, C}), probs({Bn, NH, T, T}), dq({Bn, T, C}), dk({Bn, T, C}), dv({Bn, T, C});
  const rlhf::view<const float, rlhf::host_space> nf;
  const rlhf::view<const std::int32_t, rlhf::host_space> ni;
  B::attention_forward(out.view(), probs.view(), q.view(), k.view(), v.view(), nf, nf, ni, ni, NH);
  for (auto _ : st) {
    B::attention_backward(dq.view(), dk.view(), dv.view(), g.view(), q.view(), k.view(), v.view(), probs.view(), NH);
    benchmark::DoNotOptimize(dq.data());
  }
  flops(st, 8.0 * Bn * T * T * C);
}
// One decoding step: Bn rows, each one new token over a cache of L positions.
void BM_attention_decode_step(benchmark::State& st) {
  const index_t Bn = st.range(0), L = st.range(1), C = st.range(2);
  const int NH = static_cast<int>(st.range(3));
  auto q = filled({Bn, 1, C}, 12), k = filled({Bn, 1, C}, 13), v = filled({Bn, 1, C}, 14);
  auto kc = filled({Bn, L + 1, C}, 16), vc = filled({Bn, L + 1, C}, 17);
  buf out({Bn, 1, C}), probs({Bn, NH, 1, L + 1});
  std::vector<std::int32_t> rows(static_cast<std::size_t>(Bn)), lens(static_cast<std::size_t>(Bn), static_cast<std::int32_t>(L));
  for (index_t b = 0; b < Bn; ++b) rows[static_cast<std::size_t>(b)] = static_cast<std::int32_t>(b);
  const rlhf::view<const std::int32_t, rlhf::host_space> rv(rows.data(), {Bn}), lv(lens.data(), {Bn});
  for (auto _ : st) {
    B::attention_forward(out.view(), probs.view(), q.view(), k.view(), v.view(), kc.view(), vc.view(), rv, lv, NH);
    benchmark::DoNotOptimize(out.data());
  }
  bytes(st, 2.0 * Bn * L * C * sizeof(float));  // the cache is read once
}
BENCHMARK(BM_attention_forward)->Args({8, 128, 128, 4})->Args({4, 256, 768, 12})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_attention_backward)->Args({8, 128, 128, 4})->Args({4, 256, 768, 12})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_attention_decode_step)->Args({8, 512, 128, 4})->Args({4, 1023, 768, 12})->Unit(benchmark::kMicrosecond);

// ---- embedding and AdamW ---------------------------------------------------------------------
void BM_embedding_backward(benchmark::State& st) {
  const index_t N = st.range(0), V = st.range(1), C = st.range(2);
  auto g = filled({N, C}, 18);
  std::vector<std::int32_t> tok(static_cast<std::size_t>(N)), pos(static_cast<std::size_t>(N));
  for (index_t i = 0; i < N; ++i) {
    tok[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 7919) % V);
    pos[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i % 256);
  }
  buf dwte({V, C}), dwpe({256, C});
  const rlhf::view<const std::int32_t, rlhf::host_space> tv(tok.data(), {N}), pv(pos.data(), {N});
  for (auto _ : st) {
    B::embedding_backward(dwte.view(), dwpe.view(), g.view(), tv, pv);
    benchmark::DoNotOptimize(dwte.data());
  }
  bytes(st, 3.0 * N * C * sizeof(float));
}
BENCHMARK(BM_embedding_backward)->Args({1024, 256, 128})->Args({1024, 50257, 768});

void BM_adamw_update(benchmark::State& st) {
  const index_t n = st.range(0);
  auto p = filled({n}, 19), g = filled({n}, 20);
  buf m({n}), v({n});
  std::int64_t t = 0;
  for (auto _ : st) {
    B::adamw_update(p.view(), g.view(), m.view(), v.view(), 1e-4f, 0.9f, 0.999f, 1e-8f, 0.01f, ++t);
    benchmark::DoNotOptimize(p.data());
  }
  bytes(st, 7.0 * n * sizeof(float));  // read p g m v, write p m v
}
void BM_raw_eigen_adamw(benchmark::State& st) {
  const index_t n = st.range(0);
  auto p = filled({n}, 19), g = filled({n}, 20);
  buf m({n}), v({n});
  Eigen::Map<Eigen::ArrayXf> P(p.data(), n), G(g.data(), n), Mm(m.data(), n), Vv(v.data(), n);
  std::int64_t t = 0;
  for (auto _ : st) {
    ++t;
    const float c1 = 1.0f / (1.0f - std::pow(0.9f, static_cast<float>(t))), c2 = 1.0f / (1.0f - std::pow(0.999f, static_cast<float>(t)));
    Mm = 0.9f * Mm + 0.1f * G;
    Vv = 0.999f * Vv + 0.001f * G.square();
    P -= 1e-4f * ((Mm * c1) / ((Vv * c2).sqrt() + 1e-8f) + 0.01f * P);
    benchmark::DoNotOptimize(p.data());
  }
  bytes(st, 7.0 * n * sizeof(float));
}
BENCHMARK(BM_adamw_update)->Arg(1 << 20)->Arg(1 << 23);
BENCHMARK(BM_raw_eigen_adamw)->Arg(1 << 20)->Arg(1 << 23);

}  // namespace

RLHF_BENCHMARK_MAIN({"BM_matmul_forward", "BM_raw_openblas_sgemm", "matmul vs one OpenBLAS sgemm, 1 thread (target >= 0.95x)"},
                    {"BM_matmul_backward", "BM_raw_openblas_sgemm_backward", "matmul backward vs OpenBLAS, 1 thread (target >= 0.95x)"},
                    {"BM_matmul_forward", "BM_raw_eigen_sgemm", "matmul: our kernel vs raw Eigen GEMM"},
                    {"BM_matmul_backward", "BM_raw_eigen_sgemm_backward", "matmul backward vs raw Eigen"},
                    {"BM_layernorm_forward", "BM_raw_eigen_layernorm", "layernorm vs Eigen expressions"},
                    {"BM_gelu_forward", "BM_raw_eigen_gelu", "GELU vs an Eigen expression"},
                    {"BM_log_softmax_forward", "BM_raw_eigen_log_softmax", "log-softmax vs Eigen expressions"},
                    {"BM_adamw_update", "BM_raw_eigen_adamw", "AdamW vs Eigen expressions"})
