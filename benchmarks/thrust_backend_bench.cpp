// SPDX-License-Identifier: MIT
// The thrust backend next to the Eigen backend, in one binary: matmul (tiny-GPT and GPT-2-small
// shapes), layernorm, softmax and causal attention. Every benchmark checks its output once
// against Eigen before timing and reports GFLOP/s (nominal FLOPs of the kernel); the closing
// table (ratio_main.hpp) gives each thrust system's speed against Eigen's on the same shape in
// the same run (> 1: thrust is faster). Under nvcc the CUDA system is added.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/core/rng.hpp"
#include "ratio_main.hpp"

namespace {

using rlhf::index_t;
using rlhf::shape;
using eigen_b = rlhf::backend::eigen;

std::vector<float> random_floats(index_t n, std::uint64_t seed) {
  rlhf::counter_rng rng(seed, 0);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = static_cast<float>(rng.normal(static_cast<std::uint64_t>(i)));
  return v;
}

template <class B>
typename B::template buffer<float> upload(const std::vector<float>& h, shape s) {
  typename B::template buffer<float> b(s);
  B::from_host(b.view(), std::span<const float>(h));
  return b;
}
template <class B, class V>
std::vector<float> download(V v) {
  std::vector<float> h(static_cast<std::size_t>(v.size()));
  B::to_host(std::span<float>(h), v);
  return h;
}

/// Waits for the device (cuBLAS launches are asynchronous); nothing on host systems.
template <class B>
void sync() {
#if defined(__CUDACC__) && defined(RLHF_WITH_THRUST)
  if constexpr (std::is_same_v<B, rlhf::backend::thrust_cuda>) cudaDeviceSynchronize();
#endif
}

/// One kernel on backend B: inputs built from fixed seeds, run() launches it, output() reads it.
template <class B>
struct matmul_case {
  index_t m, k, n;
  typename B::template buffer<float> x, w, bias, out;
  matmul_case(index_t m_, index_t k_, index_t n_)
      : m(m_), k(k_), n(n_), x(upload<B>(random_floats(m * k, 1), shape{m, k})),
        w(upload<B>(random_floats(k * n, 2), shape{k, n})), bias(upload<B>(random_floats(n, 3), shape{n})),
        out(shape{m, n}) {}
  void run() { B::matmul_forward(out.view(), x.view(), w.view(), bias.view(), false); }
  double flops() const { return 2.0 * static_cast<double>(m * n * k); }
  std::vector<float> output() { return download<B>(out.view()); }
};

template <class B>
struct layernorm_case {
  index_t rows, c;
  typename B::template buffer<float> x, w, b, out, mean, rstd;
  layernorm_case(index_t r, index_t c_, index_t)
      : rows(r), c(c_), x(upload<B>(random_floats(r * c_, 4), shape{r, c_})),
        w(upload<B>(random_floats(c_, 5), shape{c_})), b(upload<B>(random_floats(c_, 6), shape{c_})),
        out(shape{r, c_}), mean(shape{r}), rstd(shape{r}) {}
  void run() { B::layernorm_forward(out.view(), mean.view(), rstd.view(), x.view(), w.view(), b.view(), 1e-5f); }
  double flops() const { return 8.0 * static_cast<double>(rows * c); }  // mean, variance, scale, shift
  std::vector<float> output() { return download<B>(out.view()); }
};

template <class B>
struct softmax_case {
  index_t rows, v;
  typename B::template buffer<float> x, out;
  softmax_case(index_t r, index_t v_, index_t)
      : rows(r), v(v_), x(upload<B>(random_floats(r * v_, 7), shape{r, v_})), out(shape{r, v_}) {}
  void run() { B::softmax_forward(out.view(), x.view()); }
  double flops() const { return 5.0 * static_cast<double>(rows * v); }  // max, sub, exp, sum, scale
  std::vector<float> output() { return download<B>(out.view()); }
};

template <class B>
struct attention_case {
  index_t nb, t, c, nh;
  typename B::template buffer<float> q, k, v, out, probs;
  attention_case(index_t b, index_t t_, index_t c_)
      : nb(b), t(t_), c(c_), nh(c_ / 32), q(upload<B>(random_floats(b * t_ * c_, 8), shape{b, t_, c_})),
        k(upload<B>(random_floats(b * t_ * c_, 9), shape{b, t_, c_})),
        v(upload<B>(random_floats(b * t_ * c_, 10), shape{b, t_, c_})), out(shape{b, t_, c_}),
        probs(shape{b, c_ / 32, t_, t_}) {}
  void run() {
    B::attention_forward(out.view(), probs.view(), q.view(), k.view(), v.view(), {}, {}, {}, {},
                         static_cast<int>(nh));
  }
  // q·k and p·v over the causal triangle: 2 · 2 · B · C · T(T+1)/2.
  double flops() const { return 2.0 * static_cast<double>(nb * c * t * (t + 1)); }
  std::vector<float> output() { return download<B>(out.view()); }
};

template <template <class> class Case, class B>
void run_case(benchmark::State& state) {
  const index_t a = state.range(0), b = state.range(1), c = state.range(2);
  Case<B> kernel(a, b, c);
  Case<eigen_b> reference(a, b, c);
  try {
    kernel.run();
    sync<B>();
    reference.run();
  } catch (const rlhf::error& e) {
    state.SkipWithError(e.what());
    return;
  }
  // Validate before timing: the kernel must agree with Eigen to float accuracy.
  const auto got = kernel.output(), want = reference.output();
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(static_cast<double>(got[i]) - want[i]) / (std::abs(want[i]) + 1.0));
  if (!(worst < 1e-3)) {
    state.SkipWithError("output differs from the Eigen backend");
    return;
  }
  for (auto _ : state) {
    kernel.run();
    sync<B>();
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(kernel.flops() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

template <class B>
void BM_backend_matmul(benchmark::State& s) { run_case<matmul_case, B>(s); }
template <class B>
void BM_backend_layernorm(benchmark::State& s) { run_case<layernorm_case, B>(s); }
template <class B>
void BM_backend_softmax(benchmark::State& s) { run_case<softmax_case, B>(s); }
template <class B>
void BM_backend_attention(benchmark::State& s) { run_case<attention_case, B>(s); }

// (M, K, N): a tiny GPT's qkv projection (B·T = 256, C = 128) and GPT-2 small's MLP up-projection
// (B·T = 512, C = 768 -> 4C).
#define RLHF_MATMUL_SHAPES ->Args({256, 128, 384})->Args({512, 768, 3072})->Unit(benchmark::kMillisecond)->UseRealTime()
// (rows, C) / (rows, V) / (B, T, C).
#define RLHF_LAYERNORM_SHAPES ->Args({256, 128, 0})->Args({1024, 768, 0})->Unit(benchmark::kMicrosecond)->UseRealTime()
#define RLHF_SOFTMAX_SHAPES ->Args({256, 512, 0})->Args({64, 50257, 0})->Unit(benchmark::kMicrosecond)->UseRealTime()
#define RLHF_ATTENTION_SHAPES ->Args({4, 64, 128})->Args({4, 256, 256})->Unit(benchmark::kMicrosecond)->UseRealTime()

#define RLHF_BENCH_BACKEND(B)                                   \
  BENCHMARK_TEMPLATE(BM_backend_matmul, B) RLHF_MATMUL_SHAPES;       \
  BENCHMARK_TEMPLATE(BM_backend_layernorm, B) RLHF_LAYERNORM_SHAPES; \
  BENCHMARK_TEMPLATE(BM_backend_softmax, B) RLHF_SOFTMAX_SHAPES;     \
  BENCHMARK_TEMPLATE(BM_backend_attention, B) RLHF_ATTENTION_SHAPES

RLHF_BENCH_BACKEND(rlhf::backend::eigen);
#if defined(RLHF_WITH_THRUST)
RLHF_BENCH_BACKEND(rlhf::backend::thrust_host);
#if defined(__CUDACC__)
RLHF_BENCH_BACKEND(rlhf::backend::thrust_cuda);
#endif
#endif

}  // namespace

RLHF_BENCHMARK_MAIN({"BM_backend_matmul<rlhf::backend::thrust_host>", "BM_backend_matmul<rlhf::backend::eigen>", "matmul: thrust_host vs Eigen"},
                    {"BM_backend_layernorm<rlhf::backend::thrust_host>", "BM_backend_layernorm<rlhf::backend::eigen>", "layernorm: thrust_host vs Eigen"},
                    {"BM_backend_softmax<rlhf::backend::thrust_host>", "BM_backend_softmax<rlhf::backend::eigen>", "softmax: thrust_host vs Eigen"},
                    {"BM_backend_attention<rlhf::backend::thrust_host>", "BM_backend_attention<rlhf::backend::eigen>", "attention: thrust_host vs Eigen"},
                    {"BM_backend_matmul<rlhf::backend::thrust_cuda>", "BM_backend_matmul<rlhf::backend::eigen>", "matmul: thrust_cuda vs Eigen"},
                    {"BM_backend_layernorm<rlhf::backend::thrust_cuda>", "BM_backend_layernorm<rlhf::backend::eigen>", "layernorm: thrust_cuda vs Eigen"},
                    {"BM_backend_softmax<rlhf::backend::thrust_cuda>", "BM_backend_softmax<rlhf::backend::eigen>", "softmax: thrust_cuda vs Eigen"},
                    {"BM_backend_attention<rlhf::backend::thrust_cuda>", "BM_backend_attention<rlhf::backend::eigen>", "attention: thrust_cuda vs Eigen"})
