// SPDX-License-Identifier: MIT
// Policy-optimisation throughput, default backend, on the tiny GPT of transformer_bench.cpp
// (V 256, C 128, 4 layers, 4 heads, n_positions 64, tied LM head):
//  - BM_dpo_step/ref:R/threads:N: one optimizer step of rlhf::train::dpo_trainer (sigmoid loss,
//    reverse KL = plain DPO, β 0.1) on 16 preference pairs × 64 tokens (16 prompt + 48 response
//    tokens a side, both sides in ONE forward pass of 32 rows): zero_grad, accumulate (record
//    checks, collation, policy forward, summed response log-probs, DPO loss, backward) and AdamW
//    (backend adamw_update). R = 1: the reference model is evaluated on the fly through its
//    inference path (a second forward pass of 32 rows, no activations kept); R = 0: reference
//    log-probs precomputed once (compute_reference_log_probs), so only the policy runs.
//    Counters: pairs/s and tokens/s (2 × 16 × 64 tokens through the policy per step).
//  - BM_ppo_rollout_update/threads:N: one PPO rollout + update (rlhf::train::ppo_trainer with a
//    gold reward function and a transformer critic of the same size): 16 prompts × 16 tokens,
//    32 new tokens each sampled through the KV cache (multinomial, temperature 1, no EOS), the
//    policy's and the reference's log-probs and the critic's values of the responses, GAE,
//    one epoch of one minibatch: clipped surrogate + AdamW on the policy, clipped value loss +
//    AdamW on the critic. Counter: tokens/s = generated tokens (16 × 32) / (rollout + update).
// PyTorch reference of the DPO step: `python3 benchmarks/pytorch_reference.py --dpo`
// (docs/performance.md, "Trainer steps against PyTorch").
#include <benchmark/benchmark.h>

#include <cmath>
#include <span>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/sampling/any_sampler.hpp"
#include "rlhf/train/dpo.hpp"
#include "rlhf/train/ppo.hpp"
#include "ratio_main.hpp"

namespace {

using backend = rlhf::backend::default_backend;
using lm_t = rlhf::transformer<backend, rlhf::lm_head>;
using value_t = rlhf::transformer<backend, rlhf::scalar_head>;
constexpr rlhf::index_t pairs = 16, prompt_len = 16, response_len = 48;
constexpr rlhf::index_t ppo_prompts = 16, ppo_prompt_len = 16, ppo_new_tokens = 32;
const rlhf::gpt2_config tiny{.n_positions = 64};

std::vector<rlhf::token_id> draw(const rlhf::counter_rng& rng, std::uint64_t& c, rlhf::index_t n) {
  std::vector<rlhf::token_id> out;
  for (rlhf::index_t i = 0; i < n; ++i) out.push_back(static_cast<rlhf::token_id>(rng.uniform(c++) * 256));
  return out;
}

std::vector<rlhf::data::preference_example> random_pairs(std::uint64_t seed) {
  const rlhf::counter_rng rng(seed, 0);
  std::uint64_t c = 0;
  std::vector<rlhf::data::preference_example> out;
  for (rlhf::index_t i = 0; i < pairs; ++i)
    out.push_back({draw(rng, c, prompt_len), draw(rng, c, response_len), draw(rng, c, response_len)});
  return out;
}

struct adam_state {
  explicit adam_state(rlhf::index_t n) : m(rlhf::shape{n}), v(rlhf::shape{n}) {}
  typename backend::template buffer<float> m, v;
  std::int64_t step = 0;
  void update(lm_t& model) {
    backend::adamw_update(model.parameters(), model.gradients(), m.view(), v.view(), 3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f,
                          ++step);
  }
};

void BM_dpo_step(benchmark::State& st) {
  const bool on_the_fly = st.range(0) == 1;
  backend::set_num_threads(static_cast<int>(st.range(1)));
  lm_t policy(tiny, 1), reference(tiny, 1);
  const auto data = random_pairs(2);
  rlhf::train::dpo_trainer<lm_t> trainer({.batch_size = pairs, .beta = 0.1});
  // Precomputed once, outside the timed loop (that is the point of precomputing).
  const auto ref_logps = rlhf::train::compute_reference_log_probs(reference, data, pairs, trainer.max_length(policy));
  adam_state adam(policy.parameter_count());
  auto step = [&] {
    policy.zero_grad();
    const auto out = on_the_fly ? trainer.accumulate(policy, data, reference) : trainer.accumulate(policy, data, ref_logps);
    adam.update(policy);
    return out.loss;
  };
  if (!std::isfinite(step())) st.SkipWithError("non-finite loss");
  for (auto _ : st) benchmark::DoNotOptimize(step());
  st.counters["pairs/s"] = benchmark::Counter(static_cast<double>(pairs), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["tokens/s"] = benchmark::Counter(static_cast<double>(2 * pairs * (prompt_len + response_len)),
                                               benchmark::Counter::kIsIterationInvariantRate);
  rlhf_bench::report_peak_rss(st);
  backend::set_num_threads(1);
}
BENCHMARK(BM_dpo_step)
    ->ArgNames({"ref", "threads"})
    ->ArgsProduct({{1, 0}, {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

/// A gold reward on token ids: the fraction of response tokens below 64.
struct low_token_reward {
  double operator()(std::span<const rlhf::token_id>, std::span<const rlhf::token_id> r) const {
    double n = 0;
    for (rlhf::token_id t : r) n += t < 64;
    return r.empty() ? 0.0 : n / static_cast<double>(r.size());
  }
};

void BM_ppo_rollout_update(benchmark::State& st) {
  const int threads = static_cast<int>(st.range(0));
  backend::set_num_threads(threads);
  lm_t policy(tiny, 1), reference(tiny, 1);
  value_t critic(tiny, 2);
  low_token_reward gold;
  const rlhf::counter_rng rng(3, 0);
  std::uint64_t c = 0;
  std::vector<std::vector<rlhf::token_id>> prompts;
  for (rlhf::index_t i = 0; i < ppo_prompts; ++i) prompts.push_back(draw(rng, c, ppo_prompt_len));
  const auto sampler = rlhf::sampling::any_sampler::parse("");
  std::uint64_t seed = 0;
  using ppo_t = rlhf::train::ppo_trainer<lm_t, value_t, low_token_reward>;
  // One rollout (16 prompts, 1 sample each, 32 new tokens) and one policy + critic step; a fresh
  // trainer per iteration (its AdamW moments are zero-initialised: 2 × 834k floats, negligible).
  auto step = [&] {
    ppo_t trainer({.optimizer = {.lr = 1e-5},
                   .rollouts = 1,
                   .prompts_per_rollout = ppo_prompts,
                   .max_new_tokens = ppo_new_tokens,
                   .generation_batch = ppo_prompts,
                   .threads = threads,
                   .seed = seed++},
                  {}, {.progress = false});
    return trainer.train(policy, critic, reference, gold, prompts, sampler).steps;
  };
  if (step() != 1) st.SkipWithError("expected one optimizer step per rollout");
  for (auto _ : st) benchmark::DoNotOptimize(step());
  st.counters["tokens/s"] = benchmark::Counter(static_cast<double>(ppo_prompts * ppo_new_tokens),
                                               benchmark::Counter::kIsIterationInvariantRate);
  backend::set_num_threads(1);
}
BENCHMARK(BM_ppo_rollout_update)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

RLHF_BENCHMARK_MAIN({"BM_dpo_step/ref:0/", "BM_dpo_step/ref:1/",
                     "precomputed reference log-probs vs the reference model on the fly"},
                    {"BM_ppo_rollout_update/threads:2", "BM_ppo_rollout_update/threads:1", "PPO, 2 threads vs 1"},
                    {"BM_dpo_step/ref:1/threads:2", "BM_dpo_step/ref:1/threads:1", "DPO step, 2 threads vs 1"})
