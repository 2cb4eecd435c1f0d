// SPDX-License-Identifier: MIT
// FaRMA token reward models (train/farma.hpp), default backend, tiny GPT (V 256, C 128, 4 layers):
//  - BM_farma_step/gathered: one FaRMA L1 step (16 pairs × 64 tokens, 32 rows) then one L2 step
//    (the 16 chosen rows), each with its AdamW update, through the gathered read-out
//    (forward_picked / backward_picked: pick and row_max on the backend). Reference
//    BM_farma_step/dense: the same two steps through the full forward, which copies the
//    (B, T, V) rewards to the host and a dense (B, T, V) gradient back.
//  - BM_farma_score_vocab: a token reward model scores all V next tokens of a 63-token prefix in
//    ONE incremental call (kv_session::step). Reference BM_sequence_rm_score_vocab: a sequence
//    reward model (scalar head) scores the same V candidates as V one-token queries against the
//    shared prefix cache (kv_session::score_candidates, the cheap form of ARGS).
#include <cmath>
#include <cstdint>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/train/farma.hpp"
#include "ratio_main.hpp"

namespace {

using backend = rlhf::backend::default_backend;
using token_rm = rlhf::transformer<backend, rlhf::token_reward_head>;
using rlhf::index_t;
using rlhf::token_id;

constexpr index_t pairs_per_step = 16, prompt_len = 8, response_len = 56;  // 64 tokens per row

std::vector<rlhf::data::preference_example> random_pairs(index_t V) {
  const rlhf::counter_rng rng(5, 0);
  std::uint64_t c = 0;
  const auto draw = [&](index_t n) {
    std::vector<token_id> out;
    for (index_t i = 0; i < n; ++i) out.push_back(static_cast<token_id>(rng.uniform(c++) * static_cast<double>(V)));
    return out;
  };
  std::vector<rlhf::data::preference_example> out;
  for (index_t i = 0; i < pairs_per_step; ++i) out.push_back({draw(prompt_len), draw(response_len), draw(response_len)});
  return out;
}

struct adam {
  typename backend::template buffer<float> m, v;
  std::int64_t step = 0;
  explicit adam(index_t n) : m(rlhf::shape{n}), v(rlhf::shape{n}) {}
  template <class Model>
  void update(Model& model) {
    backend::adamw_update(model.parameters(), model.gradients(), m.view(), v.view(), 1e-4f, 0.9f, 0.95f, 1e-8f,
                          0.0f, ++step);
  }
};

/// The same L1 + L2 through the dense (B, T, V) host tensors (what the read-out avoids).
double dense_step(token_rm& m, adam& opt, const rlhf::token_batch& pairs, const rlhf::token_batch& chosen) {
  m.zero_grad();
  auto out = m.forward(pairs);
  xt::xtensor<float, 3> d = xt::zeros<float>(out.shape());
  double loss = 0;
  for (std::size_t k = 0; k < out.shape(0); k += 2) {
    const auto last = [&](std::size_t b) {
      const auto t = static_cast<std::size_t>(pairs.lengths(b) - 1);
      return std::pair{t, static_cast<std::size_t>(pairs.tokens(b, t))};
    };
    const auto [tc, vc] = last(k);
    const auto [tr, vr] = last(k + 1);
    const double h = out(k, tc - 1, vc) - out(k + 1, tr - 1, vr);
    loss += std::log1p(std::exp(-h));
    const double g = -1.0 / (1.0 + std::exp(h)) / static_cast<double>(pairs_per_step);
    d(k, tc - 1, vc) += static_cast<float>(g);
    d(k + 1, tr - 1, vr) -= static_cast<float>(g);
  }
  m.backward(d);
  opt.update(m);
  m.zero_grad();
  out = m.forward(chosen);
  d = xt::zeros<float>(out.shape());
  const double n = static_cast<double>(pairs_per_step * response_len);
  for (std::size_t b = 0; b < out.shape(0); ++b)
    for (std::size_t t = prompt_len; t < static_cast<std::size_t>(chosen.lengths(b)); ++t) {
      std::size_t arg = 0;
      for (std::size_t v = 1; v < out.shape(2); ++v)
        if (out(b, t, v) > out(b, t, arg)) arg = v;
      const auto tok = static_cast<std::size_t>(chosen.tokens(b, t));
      const double diff = out(b, t - 1, tok) - out(b, t, arg);
      loss += 0.5 * diff * diff / n;
      d(b, t - 1, tok) += static_cast<float>(diff / n);
      d(b, t, arg) -= static_cast<float>(diff / n);
    }
  m.backward(d);
  opt.update(m);
  return loss;
}

void BM_farma_step(benchmark::State& st) {
  const bool dense = st.range(0) == 1;
  token_rm m(rlhf::gpt2_config{.n_positions = 64}, 1);
  const auto data = random_pairs(m.vocab_size());
  rlhf::train::farma_config cfg;
  cfg.l1.batch_size = pairs_per_step;
  rlhf::train::farma_trainer<token_rm> trainer(cfg);
  adam opt(m.parameter_count());
  std::vector<rlhf::data::sequence_pair> rows, chosen_rows;
  for (const auto& p : data) {
    rows.push_back({p.prompt_ids, p.chosen_ids});
    rows.push_back({p.prompt_ids, p.rejected_ids});
    chosen_rows.push_back({p.prompt_ids, p.chosen_ids});
  }
  const auto pairs = rlhf::data::collate(std::span<const rlhf::data::sequence_pair>(rows), {});
  const auto chosen = rlhf::data::collate(std::span<const rlhf::data::sequence_pair>(chosen_rows), {});
  const auto step = [&] {
    if (dense) return dense_step(m, opt, pairs, chosen);
    m.zero_grad();
    double loss = trainer.accumulate(m, data, 1).loss;
    opt.update(m);
    m.zero_grad();
    loss += trainer.accumulate(m, data, 2).loss;
    opt.update(m);
    return loss;
  };
  if (!std::isfinite(step())) st.SkipWithError("non-finite loss");
  for (auto _ : st) benchmark::DoNotOptimize(step());
  st.counters["pairs/s"] = benchmark::Counter(static_cast<double>(pairs_per_step), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_farma_step)->ArgName("dense")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

std::vector<token_id> prefix(index_t V) {
  std::vector<token_id> p;
  for (index_t i = 0; i < 63; ++i) p.push_back(static_cast<token_id>((i * 37 + 11) % V));
  return p;
}

void BM_farma_score_vocab(benchmark::State& st) {
  token_rm m(rlhf::gpt2_config{.n_positions = 64}, 1);
  const std::vector<std::vector<token_id>> prompts{prefix(m.vocab_size())};
  auto s = m.start_session(1, 64);
  s.prefill(prompts);
  const std::vector<token_id> next{7};
  for (auto _ : st) {
    s.truncate(0, 62);  // replace the 63rd token: one call gives R(prefix)[v] for every next token v
    const auto r = s.step(std::span<const token_id>(next));
    benchmark::DoNotOptimize(r.row(0).data());
  }
  st.counters["candidates/s"] = benchmark::Counter(static_cast<double>(m.vocab_size()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_farma_score_vocab)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_sequence_rm_score_vocab(benchmark::State& st) {
  rlhf::transformer<backend, rlhf::scalar_head> m(rlhf::gpt2_config{.n_positions = 64}, 1);
  const std::vector<std::vector<token_id>> prompts{prefix(m.vocab_size())};
  auto s = m.start_session(1, 64);
  s.prefill(prompts);
  std::vector<token_id> all(static_cast<std::size_t>(m.vocab_size()));
  for (std::size_t v = 0; v < all.size(); ++v) all[v] = static_cast<token_id>(v);
  for (auto _ : st) {
    const auto r = s.score_candidates(0, std::span<const token_id>(all));
    benchmark::DoNotOptimize(r.values.data());
  }
  st.counters["candidates/s"] = benchmark::Counter(static_cast<double>(m.vocab_size()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_sequence_rm_score_vocab)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

RLHF_BENCHMARK_MAIN({"BM_farma_step/dense:0", "BM_farma_step/dense:1",
                     "FaRMA L1+L2 step, 16 pairs x 64 tokens: gathered read-out vs dense (B,T,V) host copies"},
                    {"BM_farma_score_vocab", "BM_sequence_rm_score_vocab",
                     "all V next tokens: one token-RM call vs V sequence-RM candidate queries"});
