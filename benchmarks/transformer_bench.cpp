// SPDX-License-Identifier: MIT
// rlhf::transformer throughput (tokens/s counters; peak_RSS_MB = the process's peak resident
// memory, meaningful when one benchmark runs per process as benchmarks/compare.sh runs them),
// default backend. Shapes: tiny GPT (V 256, C 128, 4 layers, 4 heads, n_positions 64, 834k
// parameters) and GPT-2 small (V 50257, C 768, 12 layers, 12 heads, 124M parameters).
//  - BM_transformer_train_step/shape/threads: forward + backward + AdamW (backend adamw_update)
//    of the SFT loss, tiny 16 x 64 (shape 0) or GPT-2 small 4 x 256 (shape 1, 2 iterations).
//  - BM_transformer_pass/shape/path/threads: forward (training path, keeps activations; path 0)
//    vs score (the inference path, path 1), with the backend memory each holds (activation_MB,
//    inference_MB; the head's (N, V) logits are in neither).
//  - BM_transformer_gpt2_small_forward/threads/path: the same at GPT-2 small 1 x 32.
//  - BM_transformer_decode/batch/threads/shape: greedy decoding with the KV cache after a 1-token
//    prompt, 64 new tokens (tiny) or 16 (GPT-2 small), next to BM_transformer_decode_no_cache.
//  - BM_stream_weights/shape: one read of as many bytes as the model's weights — the bandwidth
//    limit of batch-1 decoding (its tokens/s counter is the step rate that read rate allows).
//  - BM_transformer_decode_at/position (n_positions 320): one step at position 30 vs 250.
// The side-by-side table against PyTorch: benchmarks/compare.sh.
// Each benchmark checks once, before timing, that its output is finite / equal to the reference.
#include <Eigen/Core>
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
rlhf::gpt2_config gpt2_small() {  // 124M parameters
  return {.vocab_size = 50257, .n_positions = 1024, .n_embd = 768, .n_layer = 12, .n_head = 12};
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
  const bool small = st.range(0) == 1;
  const int threads = static_cast<int>(st.range(1));
  backend::set_num_threads(threads);
  const rlhf::index_t B = small ? 4 : 16, T = small ? 256 : 64;
  rlhf::transformer<backend, rlhf::lm_head> m(small ? gpt2_small() : tiny(), 1);
  const auto batch = random_batch(B, T, m.config().vocab_size, 2);
  typename backend::template buffer<float> adam_m(rlhf::shape{m.parameter_count()});
  typename backend::template buffer<float> adam_v(rlhf::shape{m.parameter_count()});
  // SFT loss: mean negative log-likelihood of the predicted tokens.
  xt::xtensor<float, 2> d = xt::full_like(xt::xtensor<float, 2>::from_shape({static_cast<std::size_t>(B), static_cast<std::size_t>(T)}), -1.0f / float(B * (T - 1)));
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
  rlhf_bench::report_peak_rss(st);
  backend::set_num_threads(1);
}
// (shape: 0 tiny 16 x 64, 1 GPT-2 small 4 x 256; threads)
BENCHMARK(BM_transformer_train_step)->Args({0, 1})->Args({0, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_transformer_train_step)->Args({1, 1})->Args({1, 2})->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();

/// Decodes `steps` tokens per row greedily (argmax) after a 1-token prompt; returns the tokens.
template <class Model>
std::vector<rlhf::token_id> decode_cached(Model& m, rlhf::index_t rows, int steps) {
  const rlhf::index_t V = m.config().vocab_size;
  auto s = m.start_session(rows, steps + 1);
  std::vector<std::vector<rlhf::token_id>> prompts(static_cast<std::size_t>(rows));
  for (rlhf::index_t r = 0; r < rows; ++r) prompts[r] = {static_cast<rlhf::token_id>(r % V)};
  auto logits = s.prefill(prompts);
  std::vector<rlhf::token_id> next(static_cast<std::size_t>(rows)), all;
  for (int t = 0; t < steps; ++t) {
    for (rlhf::index_t r = 0; r < rows; ++r) {
      const float* row = logits.data() + r * V;
      next[r] = static_cast<rlhf::token_id>(std::max_element(row, row + V) - row);
    }
    all.insert(all.end(), next.begin(), next.end());
    if (t + 1 < steps) logits = s.step(next);
  }
  return all;
}

void BM_transformer_decode(benchmark::State& st) {
  backend::set_num_threads(static_cast<int>(st.range(1)));
  const rlhf::index_t rows = st.range(0);
  const bool small = st.range(2) == 1;
  const int steps = small ? 16 : 64;
  rlhf::transformer<backend, rlhf::lm_head> m(small ? gpt2_small() : tiny(65), 1);
  for (auto _ : st) benchmark::DoNotOptimize(decode_cached(m, rows, steps).data());
  st.counters["tokens/s"] = benchmark::Counter(static_cast<double>(rows * steps), benchmark::Counter::kIsIterationInvariantRate);
  rlhf_bench::report_peak_rss(st);
  backend::set_num_threads(1);
}
// (rows, threads, shape: 0 tiny 64 new tokens, 1 GPT-2 small 16 new tokens)
BENCHMARK(BM_transformer_decode)->Args({1, 1, 0})->Args({16, 1, 0})->Args({1, 2, 0})->Args({16, 2, 0})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_transformer_decode)->Args({1, 1, 1})->Args({16, 1, 1})->Args({1, 2, 1})->Args({16, 2, 1})->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Eigen's SIMD packet types as template arguments: GCC warns that their alignment attributes are
// ignored there (as inside Eigen, which silences it the same way).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif
/// The bandwidth limit of decoding: one pass over the model's weights (a sum of the floats with 8
/// independent SIMD accumulators: a pure read stream), as a batch-1 step must read every weight
/// once. The tiny GPT's 3.3 MB stay in the L3 cache between passes, as they do between decoding
/// steps; GPT-2 small's 498 MB come from memory.
/// tokens/s is the step rate this read rate allows (bytes/s ÷ weight bytes).
void BM_stream_weights(benchmark::State& st) {
  backend::set_num_threads(1);
  const bool small = st.range(0) == 1;
  rlhf::transformer<backend, rlhf::lm_head> m(small ? gpt2_small() : tiny(65), 1);
  const auto w = m.parameters();
  const float* p = w.data();
  const auto n = static_cast<std::size_t>(w.size());
  using packet = Eigen::internal::packet_traits<float>::type;
  constexpr std::size_t S = Eigen::internal::packet_traits<float>::size;
  for (auto _ : st) {
    packet acc[8];
    for (auto& a : acc) a = Eigen::internal::pset1<packet>(0.0f);
    std::size_t i = 0;
    for (; i + 8 * S <= n; i += 8 * S)
      for (std::size_t j = 0; j < 8; ++j)
        acc[j] = Eigen::internal::padd(acc[j], Eigen::internal::ploadu<packet>(p + i + j * S));
    float total = 0.0f;
    for (; i < n; ++i) total += p[i];
    for (auto& a : acc) total += Eigen::internal::predux(a);
    benchmark::DoNotOptimize(total);
  }
  const double bytes = static_cast<double>(n) * sizeof(float);
  st.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["tokens/s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["weight_MB"] = bytes * 1e-6;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
BENCHMARK(BM_stream_weights)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

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
  const bool inference = st.range(1) == 1;
  static rlhf::transformer<backend, rlhf::lm_head> m(gpt2_small(), 1);  // 124M parameters: built once
  const rlhf::index_t B = 1, T = 32;
  const auto batch = random_batch(B, T, 50257, 3);
  auto pass = [&] { return inference ? m.score(batch) : m.forward(batch); };
  if (!std::isfinite(xt::sum(pass())())) st.SkipWithError("non-finite log-probabilities");
  for (auto _ : st) benchmark::DoNotOptimize(pass().data());
  st.counters["tokens/s"] = benchmark::Counter(static_cast<double>(B * T), benchmark::Counter::kIsIterationInvariantRate);
  rlhf_bench::report_peak_rss(st);
  backend::set_num_threads(1);
}
// (threads, path: 0 forward, the training path; 1 score, the inference path), GPT-2 small 1 x 32
BENCHMARK(BM_transformer_gpt2_small_forward)->Args({1, 0})->Args({2, 0})->Args({1, 1})->Args({2, 1})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_transformer_pass(benchmark::State& st) {
  const bool small = st.range(0) == 1, inference = st.range(1) == 1;
  backend::set_num_threads(static_cast<int>(st.range(2)));
  const rlhf::gpt2_config c = small ? gpt2_small() : tiny();
  const rlhf::index_t B = small ? 4 : 16, T = small ? 256 : 64;
  rlhf::transformer<backend, rlhf::lm_head> m(c, 1);
  const auto batch = random_batch(B, T, c.vocab_size, 4);
  const auto once = inference ? m.score(batch) : m.forward(batch);
  if (!std::isfinite(xt::sum(once)())) st.SkipWithError("non-finite log-probabilities");
  for (auto _ : st) benchmark::DoNotOptimize((inference ? m.score(batch) : m.forward(batch)).data());
  st.counters["tokens/s"] = benchmark::Counter(static_cast<double>(B * T), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["activation_MB"] = static_cast<double>(m.activation_bytes()) / 1e6;
  st.counters["inference_MB"] = static_cast<double>(m.inference_bytes()) / 1e6;
  rlhf_bench::report_peak_rss(st);
  backend::set_num_threads(1);
}
// (shape: 0 tiny 16 x 64, 1 GPT-2 small 4 x 256; path: 0 forward, 1 score; threads)
BENCHMARK(BM_transformer_pass)->ArgsProduct({{0}, {0, 1}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_transformer_pass)->ArgsProduct({{1}, {0, 1}, {1, 2}})->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

RLHF_BENCHMARK_MAIN({"BM_transformer_pass/0/1", "BM_transformer_pass/0/0", "tiny 16x64: inference path (score) vs forward"},
                    {"BM_transformer_pass/1/1", "BM_transformer_pass/1/0", "GPT-2 small 4x256: score vs forward"},
                    {"BM_transformer_gpt2_small_forward/1/1", "BM_transformer_gpt2_small_forward/1/0", "GPT-2 small 1x32: score vs forward"},
                    {"BM_transformer_decode/", "BM_transformer_decode_no_cache/", "decoding with the KV cache vs a full forward per token"},
                    {"BM_transformer_decode/1/2", "BM_transformer_decode/1/1", "batch-1 decoding, 2 threads vs 1"},
                    {"BM_transformer_decode/16/2", "BM_transformer_decode/16/1", "batch-16 decoding, 2 threads vs 1"},
                    {"BM_transformer_decode_at/250", "BM_transformer_decode_at/30", "one step at position 250 vs 30 (target >= 0.71x)"},
                    {"BM_transformer_train_step/0/2", "BM_transformer_train_step/0/1", "tiny training step, 2 threads vs 1"},
                    {"BM_transformer_train_step/1/2", "BM_transformer_train_step/1/1", "GPT-2 small training step, 2 threads vs 1"})
