// SPDX-License-Identifier: MIT
// Reward-model training throughput (pairs/s), default backend, on the tiny GPT of
// transformer_bench.cpp (V 256, C 128, 4 layers, 4 heads, n_positions 64) with a scalar head:
//  - BM_reward_train_step/kind/threads: one optimizer step of rlhf::train::reward_trainer on 16
//    preference pairs × 64 tokens (16 prompt + 48 response tokens a side, both sides in ONE
//    forward pass of 32 rows): record checks, collation, forward, Bradley–Terry loss, backward,
//    and AdamW (backend adamw_update). kind 0 = sequence, kind 1 = prefix (PARGS: the pairs cut
//    to a common random prefix, so fewer tokens per step).
//  - BM_reward_raw_step/threads: the reference, the same step by hand on the pre-collated batch
//    (forward, last-token gradient of the mean -log σ(r₊ - r₋), backward, AdamW): the ratio is the
//    trainer's overhead (1.0 = none).
// PyTorch reference of the same step: `python3 benchmarks/pytorch_reference.py --reward`
// (pairs/s for the identical model; torch needed).
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/train/reward.hpp"
#include "ratio_main.hpp"

namespace {

using backend = rlhf::backend::default_backend;
using rm_t = rlhf::transformer<backend, rlhf::scalar_head>;
constexpr rlhf::index_t pairs = 16, prompt_len = 16, response_len = 48;

std::vector<rlhf::data::preference_example> random_pairs(std::uint64_t seed) {
  const rlhf::counter_rng rng(seed, 0);
  std::uint64_t c = 0;
  const auto draw = [&](rlhf::index_t n) {
    std::vector<rlhf::token_id> out;
    for (rlhf::index_t i = 0; i < n; ++i) out.push_back(static_cast<rlhf::token_id>(rng.uniform(c++) * 256));
    return out;
  };
  std::vector<rlhf::data::preference_example> out;
  for (rlhf::index_t i = 0; i < pairs; ++i) out.push_back({draw(prompt_len), draw(response_len), draw(response_len)});
  return out;
}

struct adam_state {
  explicit adam_state(rlhf::index_t n) : m(rlhf::shape{n}), v(rlhf::shape{n}) {}
  typename backend::template buffer<float> m, v;
  std::int64_t step = 0;
  void update(rm_t& model) {
    backend::adamw_update(model.parameters(), model.gradients(), m.view(), v.view(), 3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f,
                          ++step);
  }
};

void BM_reward_train_step(benchmark::State& st) {
  const bool prefix = st.range(0) == 1;
  backend::set_num_threads(static_cast<int>(st.range(1)));
  rm_t m(rlhf::gpt2_config{.n_positions = 64}, 1);
  const auto data = random_pairs(2);
  const rlhf::train::reward_trainer<rm_t> trainer({.batch_size = pairs, .prefix = prefix});
  adam_state adam(m.parameter_count());
  rlhf::index_t epoch = 0;
  auto step = [&] {
    m.zero_grad();
    const auto out = trainer.accumulate(m, data, epoch++);  // a new prefix draw every step
    adam.update(m);
    return out.loss;
  };
  if (!std::isfinite(step())) st.SkipWithError("non-finite loss");
  for (auto _ : st) benchmark::DoNotOptimize(step());
  st.counters["pairs/s"] = benchmark::Counter(static_cast<double>(pairs), benchmark::Counter::kIsIterationInvariantRate);
  rlhf_bench::report_peak_rss(st);
  backend::set_num_threads(1);
}
BENCHMARK(BM_reward_train_step)->ArgsProduct({{0, 1}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_reward_raw_step(benchmark::State& st) {
  backend::set_num_threads(static_cast<int>(st.range(0)));
  rm_t m(rlhf::gpt2_config{.n_positions = 64}, 1);
  const auto data = random_pairs(2);
  const auto batch = rlhf::data::collate_pairs(std::span<const rlhf::data::preference_example>(data));
  adam_state adam(m.parameter_count());
  auto step = [&] {
    const auto values = m.forward(batch);
    const auto r = rlhf::last_token_values(batch, values);
    xt::xtensor<float, 1> d = xt::zeros<float>({static_cast<std::size_t>(2 * pairs)});
    double loss = 0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(pairs); ++i) {
      const double h = static_cast<double>(r(i)) - static_cast<double>(r(i + pairs));
      loss += std::log1p(std::exp(-h)) / pairs;
      const double g = -1.0 / (1.0 + std::exp(h)) / pairs;
      d(i) = static_cast<float>(g);
      d(i + pairs) = static_cast<float>(-g);
    }
    m.zero_grad();
    m.backward(rlhf::last_token_gradient(batch, d));
    adam.update(m);
    return loss;
  };
  if (!std::isfinite(step())) st.SkipWithError("non-finite loss");
  for (auto _ : st) benchmark::DoNotOptimize(step());
  st.counters["pairs/s"] = benchmark::Counter(static_cast<double>(pairs), benchmark::Counter::kIsIterationInvariantRate);
  backend::set_num_threads(1);
}
BENCHMARK(BM_reward_raw_step)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

RLHF_BENCHMARK_MAIN({"BM_reward_train_step/0", "BM_reward_raw_step", "reward_trainer step vs the same step by hand (overhead)"},
                    {"BM_reward_train_step/1/", "BM_reward_train_step/0/", "prefix (PARGS) step vs sequence step"})
