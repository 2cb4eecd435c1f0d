// SPDX-License-Identifier: MIT
// rlhf::transformer throughput (tokens/s counters), default backend:
//  - BM_transformer_train_step/threads: tiny GPT (V 256, C 128, 4 layers, 4 heads, n_positions 64,
//    834k parameters) forward + backward + AdamW (backend adamw_update) on 16 x 64 tokens;
//    PyTorch 1.13 on this machine (benchmarks/pytorch_reference.py): 84 ms on 1 thread, 52 ms on 2.
//  - BM_transformer_decode/batch/threads: 64 new tokens per row with the KV cache, after a 1-token prompt,
//    next to BM_transformer_decode_no_cache (the naive counterpart: a full forward per token).
//  - BM_transformer_decode_at/position (n_positions 320): one step at position 30 vs 250 (the
//    attention's cost is O(len·C); the rest of the step does not grow).
//  - BM_transformer_gpt2_small_forward: GPT-2 small shape (V 50257, C 768, 12 layers), 1 x 32.
//  - BM_transformer_pass/shape/path: forward (training path, keeps activations) vs score (the
//    inference path) at the tiny GPT 16 x 64 (shape 0) and GPT-2 small 4 x 256 (shape 1, one
//    iteration), with the backend memory each path holds as counters (activation_MB: forward's
//    activation arena; inference_MB: the inference path's one-block scratch; the head's (N, V)
//    logits, the same for both paths, are not in either figure).
// Each benchmark checks once, before timing, that its output is finite / equal to the reference.
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/model/transformer.hpp"
#include "ratio_main.hpp"

namespace {

using backend = rlhf::backend::default_backend;

rlhf::gpt2_config tiny(rlhf::index_t n_positions = 64) {
  rlhf::gpt2_config c;  // V 256, C 128, L 4, NH 4
  c.n_positions = n_positions;
  return c;
}

rlhf::token_batch random_batch(rlhf::index_t B, rlhf::index_t T, rlhf::index_t V, std::uint64_t seed) {
  rlhf::token_batch b;
  b.tokens = xt::xtensor<rlhf::token_id, 2>::from_shape({static_cast<std::size_t>(B), static_cast<std::size_t>(T)});
  b.lengths = xt::xtensor<std::int32_t, 1>::from_shape({static_cast<std::size_t>(B)});
  b.response_mask = xt::ones<std::uint8_t>({static_cast<std::size_t>(B), static_cast<std::size_t>(T)});
  rlhf::counter_rng rng(seed, 0);
  for (std::size_t i = 0; i < b.tokens.size(); ++i)
    b.tokens.data()[i] = static_cast<rlhf::token_id>(rng.uniform(i) * static_cast<double>(V));
  b.lengths.fill(static_cast<std::int32_t>(T));
  return b;
}

void BM_transformer_train_step(benchmark::State& st) {
  const int threads = static_cast<int>(st.range(0));
  backend::set_num_threads(threads);
  const rlhf::index_t B = 16, T = 64;
  rlhf::transformer<backend, rlhf::lm_head> m(tiny(), 1);
  const auto batch = random_batch(B, T, 256, 2);
  typename backend::template buffer<float> adam_m(rlhf::shape{m.parameter_count()});
  typename backend::template buffer<float> adam_v(rlhf::shape{m.parameter_count()});
  // SFT loss: mean negative log-likelihood of the predicted tokens.
  xt::xtensor<float, 2> d = xt::full_like(xt::xtensor<float, 2>::from_shape({B, T}), -1.0f / float(B * (T - 1)));
  std::int64_t step = 0;
  auto train_step = [&] {
    const auto logp = m.forward(batch);
    m.zero_grad();
    m.backward(d);
    backend::adamw_update(m.parameters(), m.gradients(), adam_m.view(), adam_v.view(), 3e-4f, 0.9f, 0.95f,
                          1e-8f, 0.1f, ++step);
    return logp;
  };
  const auto first = train_step();
  if (!std::isfinite(xt::sum(first)())) st.SkipWithError("non-finite log-probabilities");
  for (auto _ : st) benchmark::DoNotOptimize(train_step().data());
  st.counters["tokens/s"] = benchmark::Counter(static_cast<double>(B * T), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["params"] = static_cast<double>(m.parameter_count());
  backend::set_num_threads(1);
}
BENCHMARK(BM_transformer_train_step)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

/// Decodes `steps` tokens per row greedily (argmax) after a 1-token prompt; returns the tokens.
template <class Model>
std::vector<rlhf::token_id> decode_cached(Model& m, rlhf::index_t rows, int steps) {
  auto s = m.start_session(rows, steps + 1);
  std::vector<std::vector<rlhf::token_id>> prompts(static_cast<std::size_t>(rows));
  for (rlhf::index_t r = 0; r < rows; ++r) prompts[r] = {static_cast<rlhf::token_id>(r % 256)};
  auto logits = s.prefill(prompts);
  std::vector<rlhf::token_id> next(static_cast<std::size_t>(rows)), all;
  for (int t = 0; t < steps; ++t) {
    for (rlhf::index_t r = 0; r < rows; ++r) {
      const float* row = logits.data() + r * 256;
      next[r] = static_cast<rlhf::token_id>(std::max_element(row, row + 256) - row);
    }
    all.insert(all.end(), next.begin(), next.end());
    if (t + 1 < steps) logits = s.step(next);
  }
  return all;
}

void BM_transformer_decode(benchmark::State& st) {
  backend::set_num_threads(static_cast<int>(st.range(1)));
  const rlhf::index_t rows = st.range(0);
  const int steps = 64;
  rlhf::transformer<backend, rlhf::lm_head> m(tiny(65), 1);
  for (auto _ : st) benchmark::DoNotOptimize(decode_cached(m, rows, steps).data());
  st.counters["tokens/s"] = benchmark::Counter(static_cast<double>(rows * steps), benchmark::Counter::kIsIterationInvariantRate);
  backend::set_num_threads(1);
}
// (rows, threads)
BENCHMARK(BM_transformer_decode)->Args({1, 1})->Args({16, 1})->Args({1, 2})->Args({16, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

/// The naive counterpart: every new token re-runs the full forward over the whole prefix.
void BM_transformer_decode_no_cache(benchmark::State& st) {
  backend::set_num_threads(1);
  const rlhf::index_t rows = st.range(0);
  const int steps = 64;
  rlhf::transformer<backend, rlhf::lm_head> m(tiny(65), 1);
  auto naive = [&] {
    std::vector<std::vector<rlhf::token_id>> seqs(static_cast<std::size_t>(rows));
    for (rlhf::index_t r = 0; r < rows; ++r) seqs[r] = {static_cast<rlhf::token_id>(r % 256)};
    std::vector<rlhf::token_id> all;
    for (int t = 0; t < steps; ++t) {
      rlhf::token_batch b = random_batch(rows, t + 1, 256, 0);
      for (rlhf::index_t r = 0; r < rows; ++r)
        for (int i = 0; i <= t; ++i) b.tokens(r, i) = seqs[r][i];
      const auto logits = m.next_token_logits(b);
      for (rlhf::index_t r = 0; r < rows; ++r) {
        const float* row = logits.data() + (r * (t + 1) + t) * 256;
        const auto next = static_cast<rlhf::token_id>(std::max_element(row, row + 256) - row);
        seqs[r].push_back(next);
        all.push_back(next);
      }
    }
    return all;
  };
  if (naive() != decode_cached(m, rows, steps)) st.SkipWithError("cached and naive decoding disagree");
  for (auto _ : st) benchmark::DoNotOptimize(naive().data());
  st.counters["tokens/s"] = benchmark::Counter(static_cast<double>(rows * steps), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_transformer_decode_no_cache)->Args({1, 1})->Args({16, 1})->Unit(benchmark::kMillisecond)->UseRealTime();

/// One decode step of one row at a given position (n_positions 320): the step appends a token
/// and is rolled back with truncate, so every iteration runs at the same position.
void BM_transformer_decode_at(benchmark::State& st) {
  backend::set_num_threads(1);
  const rlhf::index_t pos = st.range(0);
  rlhf::transformer<backend, rlhf::lm_head> m(tiny(320), 1);
  auto s = m.start_session(1, 320);
  std::vector<std::vector<rlhf::token_id>> prompt(1);
  for (rlhf::index_t i = 0; i < pos; ++i) prompt[0].push_back(static_cast<rlhf::token_id>((i * 7) % 256));
  s.prefill(prompt);
  const std::vector<rlhf::token_id> tok{5};
  for (auto _ : st) {
    benchmark::DoNotOptimize(s.step(tok).data());
    s.truncate(0, pos);
  }
  st.counters["tokens/s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_transformer_decode_at)->Arg(30)->Arg(250)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_transformer_gpt2_small_forward(benchmark::State& st) {
  backend::set_num_threads(static_cast<int>(st.range(0)));
  rlhf::gpt2_config c;
  c.vocab_size = 50257;
  c.n_positions = 1024;
  c.n_embd = 768;
  c.n_layer = 12;
  c.n_head = 12;
  static rlhf::transformer<backend, rlhf::lm_head> m(c, 1);  // 124M parameters: built once
  const rlhf::index_t B = 1, T = 32;
  const auto batch = random_batch(B, T, c.vocab_size, 3);
  if (!std::isfinite(xt::sum(m.forward(batch))())) st.SkipWithError("non-finite log-probabilities");
  for (auto _ : st) benchmark::DoNotOptimize(m.forward(batch).data());
  st.counters["tokens/s"] = benchmark::Counter(static_cast<double>(B * T), benchmark::Counter::kIsIterationInvariantRate);
  backend::set_num_threads(1);
}
BENCHMARK(BM_transformer_gpt2_small_forward)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_transformer_pass(benchmark::State& st) {
  const bool gpt2_small = st.range(0) == 1, inference = st.range(1) == 1;
  backend::set_num_threads(1);
  rlhf::gpt2_config c = tiny();
  rlhf::index_t B = 16, T = 64;
  if (gpt2_small) {
    c.vocab_size = 50257;
    c.n_positions = 1024;
    c.n_embd = 768;
    c.n_layer = 12;
    c.n_head = 12;
    B = 4;
    T = 256;
  }
  rlhf::transformer<backend, rlhf::lm_head> m(c, 1);
  const auto batch = random_batch(B, T, c.vocab_size, 4);
  const auto once = inference ? m.score(batch) : m.forward(batch);
  if (!std::isfinite(xt::sum(once)())) st.SkipWithError("non-finite log-probabilities");
  for (auto _ : st) benchmark::DoNotOptimize((inference ? m.score(batch) : m.forward(batch)).data());
  st.counters["tokens/s"] = benchmark::Counter(static_cast<double>(B * T), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["activation_MB"] = static_cast<double>(m.activation_bytes()) / 1e6;
  st.counters["inference_MB"] = static_cast<double>(m.inference_bytes()) / 1e6;
}
BENCHMARK(BM_transformer_pass)->Args({0, 0})->Args({0, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_transformer_pass)->Args({1, 0})->Args({1, 1})->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

RLHF_BENCHMARK_MAIN({"BM_transformer_pass/0/1", "BM_transformer_pass/0/0", "tiny 16x64: inference path (score) vs forward"},
                    {"BM_transformer_pass/1/1", "BM_transformer_pass/1/0", "GPT-2 small 4x256: score vs forward"},
                    {"BM_transformer_decode/", "BM_transformer_decode_no_cache/", "decoding with the KV cache vs a full forward per token"},
                    {"BM_transformer_decode/1/2", "BM_transformer_decode/1/1", "batch-1 decoding, 2 threads vs 1"},
                    {"BM_transformer_decode/16/2", "BM_transformer_decode/16/1", "batch-16 decoding, 2 threads vs 1"},
                    {"BM_transformer_decode_at/250", "BM_transformer_decode_at/30", "one step at position 250 vs 30 (target >= 0.67x)"},
                    {"BM_transformer_train_step/2", "BM_transformer_train_step/1", "training step, 2 threads vs 1"},
                    {"BM_transformer_gpt2_small_forward/2", "BM_transformer_gpt2_small_forward/1", "GPT-2 small forward, 2 threads vs 1"})
