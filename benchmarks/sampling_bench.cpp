// SPDX-License-Identifier: MIT
// Sampling benchmarks (house style §8.10): exact partial selection for top-k / top-p against a
// full-sort reference in the same binary (identical kept set checked before timing), the cost
// of a 4-stage chain per token, and rlhf::generate tokens/s on the tiny GPT-2 (KV cache).
//
// Logits, V = 50257 (GPT-2's vocabulary):
//   gauss4 — N(0, 4²): a peaked next-token distribution (p = 0.9 nucleus ≈ 150–200 tokens);
//   zipf   — l = -1.1·log(rank) over a random permutation: a heavy tail (nucleus ≈ 7000 tokens).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/decoding.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/sampling.hpp"
#include "ratio_main.hpp"

namespace {
using namespace rlhf;
using namespace rlhf::sampling;

constexpr index_t vocab = 50257;

std::vector<float> make_logits(int kind) {
  const counter_rng rng(2024, 1);
  std::vector<float> l(static_cast<std::size_t>(vocab));
  if (kind == 0) {
    for (std::size_t i = 0; i < l.size(); ++i) l[i] = static_cast<float>(4.0 * rng.normal(i));
  } else {
    std::vector<std::size_t> perm(l.size());
    std::iota(perm.begin(), perm.end(), std::size_t{0});
    for (std::size_t i = perm.size() - 1; i > 0; --i)  // Fisher–Yates with the counter RNG
      std::swap(perm[i], perm[static_cast<std::size_t>(rng.uniform(i) * static_cast<double>(i + 1))]);
    for (std::size_t r = 0; r < l.size(); ++r) l[perm[r]] = static_cast<float>(-1.1 * std::log(double(r + 1)));
  }
  return l;
}
const std::vector<float>& logits_of(int kind) {
  static const std::vector<float> g = make_logits(0), z = make_logits(1);
  return kind == 0 ? g : z;
}

/// The textbook definitions: sort the whole vocabulary, then cut.
void full_sort_top_k(candidates& c, index_t k) {
  c.sort();
  c.truncate(std::min(k, c.size()));
}
void full_sort_top_p(candidates& c, double p) {
  const double m = c.max_logit();
  double z = 0;
  for (float l : c.logits()) z += std::exp(double(l) - m);
  c.sort();
  double cum = 0;
  for (index_t i = 0; i < c.size(); ++i) {
    cum += std::exp(double(c.logit(i)) - m);
    if (cum >= p * z) {
      c.truncate(i + 1);
      return;
    }
  }
}
std::vector<token_id> ids(const candidates& c) { return {c.ids().begin(), c.ids().end()}; }

// range(0): 0 = partial selection (the library), 1 = full-sort reference; range(1): logits kind.
void BM_sampling_top_k(benchmark::State& st) {
  const bool reference = st.range(0) == 1;
  const auto& l = logits_of(static_cast<int>(st.range(1)));
  const index_t k = 40;
  candidates a(l), b(l);
  top_k{k}.apply(a);
  full_sort_top_k(b, k);
  if (ids(a) != ids(b)) st.SkipWithError("top_k differs from the full-sort reference");
  candidates c;
  for (auto _ : st) {
    c.assign(l);
    if (reference) full_sort_top_k(c, k);
    else top_k{k}.apply(c);
    benchmark::DoNotOptimize(c.ids().data());
  }
  st.counters["V"] = double(vocab);
  st.counters["kept"] = double(a.size());
  st.SetItemsProcessed(st.iterations() * vocab);
  st.SetLabel(reference ? "full sort" : "partial");
}
BENCHMARK(BM_sampling_top_k)->ArgsProduct({{0, 1}, {0, 1}})->ArgNames({"ref", "zipf"});

// range(2): p in thousandths.
void BM_sampling_top_p(benchmark::State& st) {
  const bool reference = st.range(0) == 1;
  const auto& l = logits_of(static_cast<int>(st.range(1)));
  const double p = double(st.range(2)) / 1000.0;
  candidates a(l), b(l);
  top_p{p}.apply(a);
  full_sort_top_p(b, p);
  if (ids(a) != ids(b)) st.SkipWithError("top_p differs from the full-sort reference");
  candidates c;
  for (auto _ : st) {
    c.assign(l);
    if (reference) full_sort_top_p(c, p);
    else top_p{p}.apply(c);
    benchmark::DoNotOptimize(c.ids().data());
  }
  st.counters["V"] = double(vocab);
  st.counters["kept"] = double(a.size());
  st.SetItemsProcessed(st.iterations() * vocab);
  st.SetLabel(reference ? "full sort" : "partial");
}
BENCHMARK(BM_sampling_top_p)->ArgsProduct({{0, 1}, {0, 1}, {900, 950}})->ArgNames({"ref", "zipf", "p_milli"});

// A 4-stage chain per token (temperature, top_k, top_p, min_p, then categorical), including
// the copy of the logits row; compile-time chain vs the parsed runtime any_sampler.
void BM_sampling_chain4(benchmark::State& st) {
  const auto& l = logits_of(0);
  chain fixed{temperature{0.7}, top_k{40}, top_p{0.9}, min_p{0.05}, categorical{}};
  auto runtime = any_sampler::parse("temperature=0.7,top_k=40,top_p=0.9,min_p=0.05");
  candidates c;
  const counter_rng rng(1, 2);
  {
    candidates x(l), y(l);
    if (fixed.sample(x, rng, 0).token != runtime.sample(y, rng, 0).token)
      st.SkipWithError("chain and any_sampler disagree");
  }
  std::uint64_t step = 0;
  for (auto _ : st) {
    c.assign(l);
    const auto r = st.range(0) == 0 ? fixed.sample(c, rng, step) : runtime.sample(c, rng, step);
    ++step;
    benchmark::DoNotOptimize(r);
  }
  st.SetItemsProcessed(st.iterations());  // tokens
  st.SetLabel(st.range(0) == 0 ? "chain<...>" : "any_sampler");
}
BENCHMARK(BM_sampling_chain4)->Arg(0)->Arg(1)->ArgName("runtime");

// generate on the tiny GPT-2 (gpt2_config defaults: V=256, 64 positions, C=128, L=4, H=4),
// prompts of 8 tokens, 48 new tokens each (no EOS), sampler top_k=40,top_p=0.9, 16 prompts;
// range(0) = batch size. Items = generated tokens.
void BM_generate_tiny_gpt(benchmark::State& st) {
  gpt2_config cfg;
  transformer<backend::eigen, lm_head> lm(cfg, 1);
  std::vector<std::vector<token_id>> prompts(16);
  for (std::size_t i = 0; i < prompts.size(); ++i)
    for (token_id j = 0; j < 8; ++j) prompts[i].push_back(static_cast<token_id>((i * 31 + static_cast<std::size_t>(j) * 7) % 256));
  auto sampler = any_sampler::parse("top_k=40,top_p=0.9");
  generate_options opt{.max_new_tokens = 48, .seed = 3, .batch_size = st.range(0), .threads = 1};
  index_t tokens = 0, calls = 0;
  for (auto _ : st) {
    const auto r = generate(lm, std::span<const std::vector<token_id>>(prompts), sampler, opt);
    tokens += r.stats.new_tokens;
    calls += r.stats.lm_passes;
  }
  st.SetItemsProcessed(tokens);
  st.counters["tokens/s"] = benchmark::Counter(double(tokens), benchmark::Counter::kIsRate);
  st.counters["lm_calls"] = double(calls) / double(st.iterations());
}
BENCHMARK(BM_generate_tiny_gpt)->Arg(1)->Arg(16)->ArgName("batch")->Unit(benchmark::kMillisecond);

}  // namespace

RLHF_BENCHMARK_MAIN({"BM_sampling_top_k/ref:0", "BM_sampling_top_k/ref:1", "top-k (k=40, V=50257): partial selection vs full sort (target >= 3x)"},
                    {"BM_sampling_top_p/ref:0", "BM_sampling_top_p/ref:1", "top-p: partial selection vs full sort (target >= 3x)"},
                    {"BM_sampling_chain4/runtime:1", "BM_sampling_chain4/runtime:0", "parsed any_sampler vs compile-time chain<...>"},
                    {"BM_generate_tiny_gpt/batch:16", "BM_generate_tiny_gpt/batch:1", "generate, 16 prompts: batch 16 vs batch 1"})
