// SPDX-License-Identifier: MIT
// Data parallelism (include/rlhf/dist), run under `mpirun -np 2` on an MPI build
// (benchmarks/dist.sh), one thread per process. Both cases of a pair run in the same launch:
//  - BM_sft_step/<model>/procs:1 — rank 0 alone (dist::single_process) takes the whole global
//    batch while the other ranks wait at a barrier; /procs:P — every rank takes its shard through
//    the shared loop (gradients all-reduced as one flat buffer). The ratio is the strong-scaling
//    speedup of one SFT optimizer step (forward, backward, all-reduce, clip, AdamW) from 1 to P
//    processes. Models: the tiny GPT (V 256, d 128, 4 layers, 16 × 64) and a d = 768 GPT-2 width
//    (V 50 257, 2 layers, 4 × 64).
//  - BM_all_reduce/<floats> — dist::all_reduce_sum of the flat gradient buffer's size class
//    (2^10 … 2^24 floats); bytes/s per process is reported.
// Every benchmark runs a fixed number of iterations so the processes stay in step (Google
// Benchmark would otherwise choose per process). Without mpirun it runs as one process (every
// ratio ~1).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "ratio_main.hpp"
#include "rlhf/backend.hpp"
#include "rlhf/dist.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/train/accumulation.hpp"
#include "rlhf/train/training_loop.hpp"

namespace {

using B = rlhf::backend::eigen;
using lm_t = rlhf::transformer<B, rlhf::lm_head>;
namespace dist = rlhf::dist;
namespace rt = rlhf::train;

struct shape_case {
  rlhf::gpt2_config config;
  rlhf::index_t batch, seq;
  int iterations;
};
const shape_case shapes[] = {
    {{.vocab_size = 256, .n_positions = 64, .n_embd = 128, .n_layer = 4, .n_head = 4}, 16, 64, 8},
    {{.vocab_size = 50257, .n_positions = 64, .n_embd = 768, .n_layer = 2, .n_head = 12}, 4, 64, 2},
};

/// Batch rows [first, last) of a fixed global batch: every row a response after one prompt token.
rlhf::token_batch rows(const shape_case& s, rlhf::index_t first, rlhf::index_t last) {
  const rlhf::index_t n = last - first;
  rlhf::token_batch b;
  b.tokens = xt::zeros<rlhf::token_id>({static_cast<std::size_t>(n), static_cast<std::size_t>(s.seq)});
  b.response_mask = xt::ones<std::uint8_t>({static_cast<std::size_t>(n), static_cast<std::size_t>(s.seq)});
  b.lengths = xt::xtensor<std::int32_t, 1>::from_shape({static_cast<std::size_t>(n)});
  for (rlhf::index_t r = 0; r < n; ++r) {
    b.lengths(r) = static_cast<std::int32_t>(s.seq);
    b.response_mask(r, 0) = 0;
    for (rlhf::index_t t = 0; t < s.seq; ++t)
      b.tokens(r, t) = static_cast<rlhf::token_id>(((first + r) * 131 + t * 17) % s.config.vocab_size);
  }
  return b;
}

struct nll_sum {
  template <class T>
  double operator()(const xt::xtensor<T, 2>& logp, const rlhf::token_batch& batch, xt::xtensor<T, 2>& d) const {
    double s = 0;
    for (std::size_t r = 0; r < logp.shape(0); ++r)
      for (std::size_t t = 1; t < logp.shape(1); ++t)
        if (batch.response_mask(r, t)) s -= logp(r, t), d(r, t) = -1;
    return s;
  }
};

void BM_sft_step(benchmark::State& state) {
  const shape_case& s = shapes[state.range(0)];
  const bool together = state.range(1) == 1;
  const auto& world = dist::world();
  B::set_num_threads(1);
  rt::loop_options o;
  o.progress = false;
  o.comm = together ? world : dist::any_communicator(dist::single_process{});
  const bool works = together || world.is_root();
  const auto part = together ? dist::shard(static_cast<std::size_t>(s.batch), world.rank(), world.size())
                             : dist::shard_range{0, static_cast<std::size_t>(s.batch)};
  const rlhf::token_batch mine = rows(s, static_cast<rlhf::index_t>(part.first), static_cast<rlhf::index_t>(part.last));
  lm_t lm(s.config, 7);
  rt::training_loop<lm_t> loop({.lr = 1e-4}, o);
  rlhf::index_t step = 0;
  for (auto _ : state) {
    if (works)
      loop.update(lm, step++, 1 << 20, [&](lm_t& m, rlhf::index_t) {
        rt::step_output out;
        out.tokens = part.size() ? rlhf::train::count_response_tokens(mine) : 0;
        const std::vector<rlhf::token_batch> micro = part.size() ? std::vector{mine} : std::vector<rlhf::token_batch>{};
        out.loss = rt::accumulate_gradients(m, std::span<const rlhf::token_batch>(micro), loop.global_sum(out.tokens),
                                            nll_sum{});
        return out;
      });
    world.barrier();  // rank 0's time includes waiting for the slowest process
  }
  state.counters["processes"] = together ? world.size() : 1;
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(s.batch * s.seq), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_sft_step)->Args({0, 0})->Args({0, 1})->Iterations(shapes[0].iterations)->ArgNames({"model", "together"})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sft_step)->Args({1, 0})->Args({1, 1})->Iterations(shapes[1].iterations)->ArgNames({"model", "together"})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_all_reduce(benchmark::State& state) {
  const auto& world = dist::world();
  std::vector<float> x(static_cast<std::size_t>(state.range(0)), 1.0f);
  for (auto _ : state) {
    world.all_reduce_sum(std::span<float>(x));
    benchmark::ClobberMemory();
  }
  state.counters["processes"] = world.size();
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0) * 4);
}
BENCHMARK(BM_all_reduce)->RangeMultiplier(16)->Range(1 << 10, 1 << 24)->Iterations(20)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  const auto& world = dist::world();
  if (!world.is_root()) {  // one table: the other processes' output goes nowhere
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, 1), ::close(null);
  }
  return rlhf_bench::run_with_ratios(
      argc, argv,
      {{"BM_sft_step/model:0/together:1", "BM_sft_step/model:0/together:0",
        "tiny GPT 16x64 SFT step: P processes vs 1 (strong scaling)"},
       {"BM_sft_step/model:1/together:1", "BM_sft_step/model:1/together:0",
        "d 768, V 50257, 2 layers, 4x64 SFT step: P processes vs 1"}});
}
