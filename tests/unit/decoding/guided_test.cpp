// SPDX-License-Identifier: MIT
// Reward-guided decoding (ALGORITHMS.md §5) on the exact tabular models and the tiny transformer:
//  - FaRMA and GenARM sample the closed form softmax(log π_ref + r/β) on a one-step problem
//    (chi-square, α = 1e-3, fixed seeds), and greedy picks its argmax;
//  - ARGS with the shared prefix cache and committed candidates returns exactly what ARGS with
//    full recomputation of every candidate returns;
//  - best-of-N keeps the maximum; block-wise CD keeps the best block; CARDS' hard, soft and
//    best-of-rejected acceptance on scripted rewards;
//  - batch and single runs give the same tokens for the same seed; the stats count calls exactly;
//  - mismatched vocabularies are an rlhf::invalid_argument at construction.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/decoding.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/sampling.hpp"
#include "support/backends.hpp"

using namespace rlhf;

namespace {

using prompts_t = std::vector<std::vector<token_id>>;

/// Upper α quantile of chi-square with df degrees of freedom (Wilson–Hilferty; z for α = 1e-3).
double chi2_critical(int df) {
  const double z = 3.090232306167813, a = 2.0 / (9.0 * df);
  return df * std::pow(1 - a + z * std::sqrt(a), 3);
}

/// Pearson chi-square of observed counts against probabilities p (n draws).
double chi2(const std::vector<index_t>& counts, const std::vector<double>& p, index_t n) {
  double x = 0;
  for (std::size_t v = 0; v < p.size(); ++v) {
    const double e = p[v] * static_cast<double>(n);
    x += (static_cast<double>(counts[v]) - e) * (static_cast<double>(counts[v]) - e) / e;
  }
  return x;
}

std::vector<double> softmax(const std::vector<double>& z) {
  const double m = *std::max_element(z.begin(), z.end());
  std::vector<double> p(z.size());
  double s = 0;
  for (std::size_t i = 0; i < z.size(); ++i) s += p[i] = std::exp(z[i] - m);
  for (auto& x : p) x /= s;
  return p;
}

template <class Model>
std::vector<double> table_row(const Model& m, index_t row) {
  const auto t = m.logits_table();
  std::vector<double> r(static_cast<std::size_t>(m.width()));
  for (std::size_t v = 0; v < r.size(); ++v) r[v] = static_cast<double>(t(static_cast<std::size_t>(row), v));
  return r;
}

std::vector<double> log_softmax(const std::vector<double>& z) {
  auto p = softmax(z);
  for (auto& x : p) x = std::log(x);
  return p;
}

/// n one-token responses to prompt {0} and their counts per token.
template <class Decoder>
std::vector<index_t> one_step_counts(Decoder& dec, index_t vocab, index_t n, std::uint64_t seed) {
  const prompts_t prompts(static_cast<std::size_t>(n), std::vector<token_id>{0});
  const auto out = dec.generate(prompts, {.max_new_tokens = 1, .seed = seed, .batch_size = 500});
  std::vector<index_t> counts(static_cast<std::size_t>(vocab), 0);
  for (const auto& g : out.sequences) ++counts[static_cast<std::size_t>(g.tokens.at(0))];
  return counts;
}

constexpr index_t V = 8;
const tabular_config bandit{.vocab_size = V, .context = tabular_context::bandit, .n_contexts = V, .init_std = 1.0};

}  // namespace

TEMPLATE_LIST_TEST_CASE("FaRMA and GenARM sample the closed form softmax(log pi_ref + r/beta) on a one-step problem",
                        "[decoding][guided][oracle]", rlhf::test::backends) {
  using B = TestType;
  tabular_lm<B> ref(bandit, 3);
  const double beta = 0.5;
  const auto log_ref = log_softmax(table_row(ref, 0));
  const index_t n = 20000;
  const auto critical = chi2_critical(V - 1);

  SECTION("FaRMA: logit + w R with w = 1/beta") {
    tabular_token_reward_model<B> rm(bandit, 4);
    const auto r = table_row(rm, 0);
    std::vector<double> z(V);
    for (index_t v = 0; v < V; ++v) z[v] = log_ref[v] + r[v] / beta;
    const auto want = softmax(z);
    guided_decoder dec(ref, guide::farma(rm, {.w = 1 / beta}), sampling::chain(sampling::categorical{}));
    const auto counts = one_step_counts(dec, V, n, 11);
    CHECK(chi2(counts, want, n) < critical);
    // A wrong weight is detected by the same test (the test has power).
    guided_decoder wrong(ref, guide::farma(rm, {.w = 1.0}), sampling::chain(sampling::categorical{}));
    CHECK(chi2(one_step_counts(wrong, V, n, 11), want, n) > critical);
    // Greedy picks the argmax of the closed form.
    guided_decoder greedy(ref, guide::farma(rm, {.w = 1 / beta}), sampling::chain(sampling::greedy{}));
    const auto g = greedy.generate(prompts_t{{0}}, {.max_new_tokens = 1});
    CHECK(g.sequences[0].tokens[0] == std::max_element(want.begin(), want.end()) - want.begin());
  }
  SECTION("GenARM: log pi_ref + (beta_r/beta) log pi_r") {
    tabular_lm<B> reward_lm(bandit, 5);
    const double beta_r = 0.7;
    const auto log_r = log_softmax(table_row(reward_lm, 0));
    std::vector<double> z(V);
    for (index_t v = 0; v < V; ++v) z[v] = log_ref[v] + beta_r * log_r[v] / beta;  // r = beta_r log pi_r
    const auto want = softmax(z);
    guided_decoder dec(ref, guide::genarm(reward_lm, {.beta = beta, .beta_r = beta_r}),
                       sampling::chain(sampling::categorical{}));
    CHECK(chi2(one_step_counts(dec, V, n, 12), want, n) < critical);
    guided_decoder greedy(ref, guide::genarm(reward_lm, {.beta = beta, .beta_r = beta_r}),
                          sampling::chain(sampling::greedy{}));
    const auto g = greedy.generate(prompts_t{{0}}, {.max_new_tokens = 1});
    CHECK(g.sequences[0].tokens[0] == std::max_element(want.begin(), want.end()) - want.begin());
    // The KL reported is the sampled estimate: log q(a) − log pi_ref(a) of the token drawn.
    const auto one = dec.generate(prompts_t{{0}}, {.max_new_tokens = 1, .seed = 3});
    const auto a = static_cast<std::size_t>(one.sequences[0].tokens[0]);
    CHECK(*one.sequences[0].stats.kl_to_ref == Approx(std::log(want[a]) - log_ref[a]).margin(1e-5));
  }
}

namespace {

/// ARGS by full recomputation: every candidate prefix scored by a fresh forward of the reward
/// model over the whole sequence (what the reference code does, without its cache copies).
template <class RM>
struct args_recompute {
  using reward_model_type = RM;
  RM* rm;
  index_t k;
  double w;
  std::vector<std::vector<token_id>> seqs;
  index_t vocab_size() const { return rm->vocab_size(); }
  index_t max_positions() const { return rm->max_positions(); }
  index_t passes() const { return 0; }
  void start(index_t, index_t, std::span<const std::vector<token_id>> prompts, std::span<sequence_stats>) {
    seqs.assign(prompts.begin(), prompts.end());
  }
  void guide(const guide_step& s) {
    for (index_t b : s.active) {
      sampling::candidates all(s.row(b));
      std::vector<sampling::detail::entry> top, heap;
      sampling::detail::select_first(all, static_cast<std::size_t>(k), nullptr, top, heap);
      std::vector<token_id> ids;
      std::vector<float> guided;
      for (const auto& e : top) {
        auto seq = seqs[static_cast<std::size_t>(b)];
        seq.push_back(e.id);
        token_batch batch;
        batch.tokens = xt::xtensor<token_id, 2>::from_shape({1, seq.size()});
        std::copy(seq.begin(), seq.end(), batch.tokens.data());
        batch.lengths = xt::xtensor<std::int32_t, 1>({static_cast<std::int32_t>(seq.size())});
        batch.response_mask = xt::zeros<std::uint8_t>({std::size_t{1}, seq.size()});
        const double r = static_cast<double>(rm->score(batch)(0, seq.size() - 1));
        ids.push_back(e.id);
        guided.push_back(static_cast<float>(static_cast<double>(e.logit) + w * r));
      }
      s.work[b].assign(std::span<const token_id>(ids), std::span<const float>(guided));
    }
  }
  void advance(std::span<const token_id> next, std::span<sequence_stats>) {
    for (std::size_t b = 0; b < next.size(); ++b)
      if (next[b] >= 0) seqs[b].push_back(next[b]);
  }
};

prompts_t ragged_prompts(index_t vocab, std::size_t n) {
  prompts_t p;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<token_id> q;
    for (std::size_t j = 0; j <= i % 3; ++j) q.push_back(static_cast<token_id>((i * 7 + j * 3 + 1) % static_cast<std::size_t>(vocab)));
    p.push_back(q);
  }
  return p;
}

gpt2_config tiny(index_t vocab = 37) {
  return gpt2_config{.vocab_size = vocab, .n_positions = 32, .n_embd = 16, .n_layer = 2, .n_head = 4};
}

template <class Model>
void scale_weights(Model& m, double scale, std::uint64_t seed) {
  using Backend = typename Model::backend_type;
  std::vector<float> p(static_cast<std::size_t>(m.parameter_count()));
  const counter_rng rng(seed, 9);
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<float>(scale * rng.normal(i));
  Backend::from_host(m.parameters(), std::span<const float>(p));
}

void require_same_tokens(const generate_result& a, const generate_result& b) {
  REQUIRE(a.sequences.size() == b.sequences.size());
  for (std::size_t i = 0; i < a.sequences.size(); ++i) {
    CHECK(a.sequences[i].tokens == b.sequences[i].tokens);
    CHECK(a.sequences[i].finish == b.sequences[i].finish);
  }
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("ARGS with one shared prefix cache equals ARGS with full recomputation", "[decoding][guided][args]",
                        rlhf::test::backends) {
  using B = TestType;
  transformer<B, lm_head> lm(tiny(), 1);
  transformer<B, scalar_head> rm(tiny(), 2);
  scale_weights(lm, 0.2, 1);
  scale_weights(rm, 0.2, 2);
  const auto prompts = ragged_prompts(37, 5);
  const generate_options opt{.max_new_tokens = 12, .eos_id = 3, .seed = 5, .batch_size = 4};
  for (const bool greedy : {true, false}) {
    auto sampler = greedy ? sampling::any_sampler::parse("greedy") : sampling::any_sampler::parse("temperature=0.7");
    guided_decoder fast(lm, guide::args(rm, {.k = 5, .w = 2.0, .max_queries = 7}), sampler);
    guided_decoder slow(lm, args_recompute<decltype(rm)>{&rm, 5, 2.0, {}}, sampler);
    const auto a = fast.generate(prompts, opt);
    const auto b = slow.generate(prompts, opt);
    require_same_tokens(a, b);
    for (std::size_t i = 0; i < a.sequences.size(); ++i) {
      const auto& g = a.sequences[i];
      const auto T = static_cast<index_t>(g.tokens.size());
      // k reward evaluations per token; one prefill plus one scoring pass per token (k = 5 per row
      // and max_queries = 7: a pass holds one row, so four rows take four passes a step).
      CHECK(g.stats.rm_calls == 5 * T);
      CHECK(g.stats.rm_passes == 1 + T);
      CHECK(g.stats.lm_calls == T);
      CHECK(g.stats.lm_passes == T);
      CHECK(g.stats.new_tokens == T);
      CHECK(g.stats.kl_to_ref.has_value());
      for (std::size_t t = 0; t < g.tokens.size(); ++t)
        CHECK(g.model_logprobs[t] == Approx(b.sequences[i].model_logprobs[t]).margin(1e-5));
    }
  }
  // Batch 1 and batch 5 give the same tokens (scores are not within float noise here).
  auto sampler = sampling::any_sampler::parse("temperature=0.7");
  guided_decoder dec(lm, guide::args(rm, {.k = 4}), sampler);
  auto one = opt;
  one.batch_size = 1;
  auto five = opt;
  five.batch_size = 5;
  require_same_tokens(dec.generate(prompts, one), dec.generate(prompts, five));
}

TEMPLATE_LIST_TEST_CASE("every decoder gives the same tokens at batch 1 and batch 4 on the tabular models",
                        "[decoding][guided][batch]", rlhf::test::backends) {
  using B = TestType;
  const tabular_config cfg{.vocab_size = 12, .max_positions = 40, .init_std = 1.2};
  tabular_lm<B> lm(cfg, 1);
  tabular_lm<B> reward_lm(cfg, 2);
  tabular_value_model<B> vm(cfg, 3);
  tabular_token_reward_model<B> trm(cfg, 4);
  const auto prompts = ragged_prompts(12, 7);
  auto sampler = sampling::any_sampler::parse("top_k=6,temperature=0.8");
  const generate_options base{.max_new_tokens = 10, .min_new_tokens = 2, .eos_id = 0, .seed = 21};
  auto check = [&](auto&& dec) {
    auto a = base, b = base;
    a.batch_size = 1;
    b.batch_size = 4;
    const auto ra = dec.generate(prompts, a);
    const auto rb = dec.generate(prompts, b);
    require_same_tokens(ra, rb);
    for (std::size_t i = 0; i < ra.sequences.size(); ++i) {
      CHECK(ra.sequences[i].stats.rm_calls == rb.sequences[i].stats.rm_calls);
      CHECK(ra.sequences[i].stats.lm_calls == rb.sequences[i].stats.lm_calls);
      CHECK(ra.sequences[i].tokens.size() >= 2);  // min_new_tokens holds under guidance too
    }
    return ra;
  };
  SECTION("none") { check(guided_decoder(lm, guide::none{}, sampler)); }
  SECTION("ARGS") { check(guided_decoder(lm, guide::args(vm, {.k = 3}), sampler)); }
  SECTION("FaRMA") {
    const auto r = check(guided_decoder(lm, guide::farma(trm, {.w = 0.5}), sampler));
    for (const auto& g : r.sequences) {
      CHECK(g.stats.rm_calls == static_cast<index_t>(g.tokens.size()));
      CHECK(g.stats.rm_passes == static_cast<index_t>(g.tokens.size()));
    }
  }
  SECTION("GenARM") { check(guided_decoder(lm, guide::genarm(reward_lm, {.beta = 0.5}), sampler)); }
  SECTION("best-of-N") {
    const auto r = check(best_of_n_decoder(lm, vm, sampler, {.n = 3}));
    for (const auto& g : r.sequences) {
      CHECK(g.stats.rm_calls == 3);
      CHECK(*g.stats.kl_to_ref == Approx(std::log(3.0) - 2.0 / 3.0));
    }
  }
  SECTION("block CD") { check(block_cd_decoder(lm, vm, sampler, {.blocks = 3, .block_len = 4})); }
  SECTION("CARDS soft") {
    check(cards_decoder(lm, vm, sampler,
                        {.segment_min = 2, .segment_max = 4, .entropy_threshold = 1.5, .target_reward = 0.5,
                         .acceptance = cards_acceptance::soft, .temperature = 0.5, .max_rejections = 4}));
  }
}

TEMPLATE_LIST_TEST_CASE("best-of-N keeps the maximum reward and block CD the best block", "[decoding][bon][block_cd]",
                        rlhf::test::backends) {
  using B = TestType;
  const tabular_config cfg{.vocab_size = 10, .max_positions = 40, .init_std = 1.0};
  tabular_lm<B> lm(cfg, 7);
  tabular_value_model<B> vm(cfg, 8);
  const auto prompts = ragged_prompts(10, 4);
  auto sampler = sampling::any_sampler::parse("temperature=1");
  const generate_options opt{.max_new_tokens = 6, .seed = 4, .batch_size = 3};
  const auto value_after = [&](const std::vector<token_id>& prompt, const std::vector<token_id>& response) {
    std::vector<token_id> seq(prompt);
    seq.insert(seq.end(), response.begin(), response.end());
    return static_cast<double>(vm.logits_table()(static_cast<std::size_t>(vm.context_of(seq)), 0));
  };
  SECTION("best-of-N") {
    best_of_n_decoder bon(lm, vm, sampler, {.n = 5});
    const auto r = bon.generate(prompts, opt);
    // The 5 samples of prompt i are plain samples on streams (j << 40 | i); sample 0 is generate's.
    const auto plain = generate(lm, prompts, sampler, opt);
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      CHECK(bon.rewards()[i] == Approx(value_after(prompts[i], r.sequences[i].tokens)));
      CHECK(bon.rewards()[i] >= value_after(prompts[i], plain.sequences[i].tokens) - 1e-6);
      CHECK(r.sequences[i].stats.lm_calls == 5 * 6);
      CHECK(r.sequences[i].stats.new_tokens == 6);
    }
    // N = 1 is plain sampling.
    best_of_n_decoder one(lm, vm, sampler, {.n = 1});
    require_same_tokens(one.generate(prompts, opt), plain);
  }
  SECTION("block CD: M = the whole response is best-of-K") {
    block_cd_decoder cd(lm, vm, sampler, {.blocks = 5, .block_len = 6});
    best_of_n_decoder bon(lm, vm, sampler, {.n = 5});
    const auto a = cd.generate(prompts, opt);
    require_same_tokens(a, bon.generate(prompts, opt));
    for (const auto& g : a.sequences) CHECK(g.stats.rm_calls == 5);
  }
  SECTION("block CD: blocks of 2, K value calls per block") {
    block_cd_decoder cd(lm, vm, sampler, {.blocks = 4, .block_len = 2});
    const auto a = cd.generate(prompts, opt);
    for (const auto& g : a.sequences) {
      CHECK(g.tokens.size() == 6);
      CHECK(g.stats.rm_calls == 4 * 3);
      CHECK(g.stats.lm_calls == 4 * 6);
      CHECK(*g.stats.kl_to_ref == Approx(3 * (std::log(4.0) - 0.75)));
    }
  }
}

namespace {
/// A reward of the last token only: value(prefix) = script[last token], via a custom context.
template <class B>
tabular_value_model<B> scripted_reward(const std::vector<float>& script) {
  const auto n = static_cast<index_t>(script.size());
  tabular_value_model<B> m(tabular_config{.vocab_size = n, .context = tabular_context::custom, .n_contexts = n,
                                          .max_positions = 64},
                           [](std::span<const token_id> prefix) { return static_cast<index_t>(prefix.back()); });
  B::from_host(m.parameters(), std::span<const float>(script));
  return m;
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("CARDS accepts and rejects segments as its rule says, on scripted rewards", "[decoding][cards]",
                        rlhf::test::backends) {
  using B = TestType;
  // Uniform LM over 6 tokens: entropy log 6 > 0 = threshold, so every segment is segment_min long.
  tabular_lm<B> lm(tabular_config{.vocab_size = 6, .max_positions = 64});
  auto sampler = sampling::any_sampler::parse("temperature=1");
  const prompts_t prompts{{1}, {2, 3}, {4}};
  const generate_options opt{.max_new_tokens = 8, .seed = 9, .batch_size = 2};

  SECTION("hard: a segment is kept iff its last token is even (reward 1 against threshold 0)") {
    auto rm = scripted_reward<B>({1, -1, 1, -1, 1, -1});
    cards_decoder dec(lm, rm, sampler,
                      {.segment_min = 2, .segment_max = 2, .entropy_threshold = 0, .target_reward = 0, .alpha = 1,
                       .max_rejections = 50});
    const auto r = dec.generate(prompts, opt);
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      const auto& g = r.sequences[i];
      const auto& tr = dec.trace()[i];
      REQUIRE(g.tokens.size() == 8);
      for (std::size_t t = 1; t < 8; t += 2) CHECK(g.tokens[t] % 2 == 0);
      CHECK(tr.accepted == 4);
      CHECK(tr.fallbacks == 0);
      CHECK(tr.rejected == static_cast<index_t>(tr.rewards.size()) - 4);
      for (std::size_t a = 0; a < tr.rewards.size(); ++a) CHECK(tr.thresholds[a] == 0.0);
      // One RM call for the prompt and one per attempt; every attempt's two tokens were LM calls.
      CHECK(g.stats.rm_calls == 1 + static_cast<index_t>(tr.rewards.size()));
      CHECK(g.stats.lm_calls == 2 * static_cast<index_t>(tr.rewards.size()));
      CHECK_FALSE(g.stats.kl_to_ref.has_value());
      // The model log-probs are those of the kept tokens under the LM (uniform).
      for (float lp : g.model_logprobs) CHECK(lp == Approx(-std::log(6.0)));
    }
  }
  SECTION("best of rejected: an unreachable target takes the best of max_rejections attempts") {
    auto rm = scripted_reward<B>({0.0f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f});
    cards_decoder dec(lm, rm, sampler,
                      {.segment_min = 2, .segment_max = 2, .entropy_threshold = 0, .target_reward = 10, .alpha = 1,
                       .max_rejections = 3});
    const auto r = dec.generate(prompts, opt);
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      const auto& g = r.sequences[i];
      const auto& tr = dec.trace()[i];
      REQUIRE(g.tokens.size() == 8);
      CHECK(tr.accepted == 0);
      CHECK(tr.fallbacks == 4);
      REQUIRE(tr.rewards.size() == 12);
      for (std::size_t seg = 0; seg < 4; ++seg) {
        const double best = std::max({tr.rewards[3 * seg], tr.rewards[3 * seg + 1], tr.rewards[3 * seg + 2]});
        CHECK(0.1 * g.tokens[2 * seg + 1] == Approx(best));
      }
      CHECK(g.stats.lm_calls == 24);
      CHECK(g.stats.rm_calls == 13);
    }
  }
  SECTION("soft: accepted with probability exp((r - tau)/T)") {
    auto rm = scripted_reward<B>({0, 0, 0, 0, 0, 0});
    // r - tau = log 0.3 with T = 1: each attempt is accepted with probability 0.3.
    cards_decoder dec(lm, rm, sampler,
                      {.segment_min = 8, .segment_max = 8, .entropy_threshold = 0,
                       .target_reward = -std::log(0.3), .alpha = 1, .acceptance = cards_acceptance::soft,
                       .temperature = 1, .max_rejections = 1000});
    const prompts_t many(400, std::vector<token_id>{1});
    const auto r = dec.generate(many, {.max_new_tokens = 8, .seed = 2, .batch_size = 100});
    index_t attempts = 0;
    for (const auto& tr : dec.trace()) {
      CHECK(tr.accepted == 1);
      attempts += static_cast<index_t>(tr.rewards.size());
    }
    // Attempts until acceptance are geometric with p = 0.3: mean 1/p, sd sqrt(1-p)/p per prompt.
    const double mean = static_cast<double>(attempts) / 400.0;
    CHECK(std::abs(mean - 1 / 0.3) < 4 * std::sqrt(0.7) / 0.3 / std::sqrt(400.0));
  }
}

TEST_CASE("a reward model of another vocabulary is an invalid_argument at construction", "[decoding][guided][vocab]") {
  using Catch::Matchers::Contains;
  tabular_lm<backend::eigen> lm(tabular_config{.vocab_size = 10});
  tabular_value_model<backend::eigen> vm(tabular_config{.vocab_size = 11});
  tabular_token_reward_model<backend::eigen> trm(tabular_config{.vocab_size = 9});
  tabular_lm<backend::eigen> rlm(tabular_config{.vocab_size = 12});
  auto s = sampling::any_sampler::parse("greedy");
  CHECK_THROWS_WITH(guided_decoder(lm, guide::args(vm), s), Contains("vocabulary mismatch") && Contains("11"));
  CHECK_THROWS_WITH(guided_decoder(lm, guide::farma(trm), s), Contains("vocabulary mismatch"));
  CHECK_THROWS_WITH(guided_decoder(lm, guide::genarm(rlm), s), Contains("vocabulary mismatch"));
  CHECK_THROWS_WITH(best_of_n_decoder(lm, vm, s), Contains("vocabulary mismatch"));
  CHECK_THROWS_WITH(cards_decoder(lm, vm, s), Contains("vocabulary mismatch"));
  CHECK_THROWS_WITH(block_cd_decoder(lm, vm, s), Contains("vocabulary mismatch"));
  // Bad options name themselves.
  tabular_value_model<backend::eigen> ok(tabular_config{.vocab_size = 10});
  CHECK_THROWS_WITH(guide::args(ok, {.k = 0}), Contains("k = 0"));
  CHECK_THROWS_WITH(cards_decoder(lm, ok, s, {.segment_min = 5, .segment_max = 2}), Contains("segment_max"));
  CHECK_THROWS_WITH(best_of_n_decoder(lm, ok, s, {.n = 0}), Contains("n = 0"));
  CHECK_THROWS_WITH(guide::genarm(rlm, {.beta = 0}), Contains("beta = 0"));
  // A reward model shorter than prompt + max_new_tokens.
  tabular_value_model<backend::eigen> short_rm(tabular_config{.vocab_size = 10, .max_positions = 4});
  guided_decoder dec(lm, guide::args(short_rm), s);
  CHECK_THROWS_WITH(dec.generate(prompts_t{{1, 2}}, {.max_new_tokens = 3}), Contains("max_positions = 4"));
}
