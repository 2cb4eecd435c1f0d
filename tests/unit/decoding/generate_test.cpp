// SPDX-License-Identifier: MIT
// rlhf::generate on a mock language_model whose logits are a fixed function of the prefix:
// reproducibility across batch sizes and thread counts, log-prob semantics, EOS / stop token /
// stop string / min_new_tokens handling, LM-call accounting, and bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "mock_lm.hpp"
#include "rlhf/decoding.hpp"
#include "rlhf/sampling.hpp"

using namespace rlhf;
using rlhf::test::mock_lm;

namespace {
std::vector<std::vector<token_id>> make_prompts(std::size_t n) {
  std::vector<std::vector<token_id>> p;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<token_id> q;
    for (std::size_t j = 0; j <= (i * 7) % 5; ++j) q.push_back(static_cast<token_id>((i * 3 + j * 5) % 16));
    p.push_back(q);
  }
  return p;
}
std::string letters(std::span<const token_id> t) {
  std::string s;
  for (token_id x : t) s += static_cast<char>('a' + x);
  return s;
}
double log_softmax_at(const std::vector<float>& l, token_id t) {
  double m = -INFINITY;
  for (float x : l) m = std::max(m, double(x));
  double z = 0;
  for (float x : l) z += std::exp(double(x) - m);
  return double(l[static_cast<std::size_t>(t)]) - m - std::log(z);
}
}  // namespace

TEST_CASE("generate gives the same tokens for any batch size and thread count", "[decoding][generate]") {
  mock_lm lm;
  lm.bias[3] = 1.0f;  // EOS fairly likely: rows finish at different steps
  const auto prompts = make_prompts(11);
  auto sampler = sampling::any_sampler::parse("temperature=0.9,top_k=8,top_p=0.95,repetition_penalty=1.2");
  generate_options opt{.max_new_tokens = 12, .eos_id = 3, .seed = 1234};
  std::vector<generate_result> runs;
  for (const index_t bs : {1, 3, 8}) {
    for (const int threads : {1, 2}) {
      opt.batch_size = bs;
      opt.threads = threads;
      runs.push_back(generate(lm, std::span<const std::vector<token_id>>(prompts), sampler, opt));
    }
  }
  bool some_eos = false, some_length = false;
  for (const auto& r : runs) {
    REQUIRE(r.sequences.size() == prompts.size());
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      const auto& a = r.sequences[i];
      const auto& b = runs.front().sequences[i];
      REQUIRE(a.tokens == b.tokens);
      REQUIRE(a.model_logprobs == b.model_logprobs);
      REQUIRE(a.sampling_logprobs == b.sampling_logprobs);
      REQUIRE(a.kept_mass == b.kept_mass);
      REQUIRE(a.finish == b.finish);
      some_eos = some_eos || a.finish == finish_reason::eos;
      some_length = some_length || a.finish == finish_reason::length;
    }
  }
  REQUIRE(some_eos);
  REQUIRE(some_length);
  // Finished rows were passed to step() as -1 (never extended, never sampled: their logits are NaN).
  REQUIRE(lm.skipped_rows > 0);

  // A chain sampler behaves the same way, and another seed gives other tokens.
  sampling::chain ch{sampling::temperature{0.9}, sampling::top_k{8}, sampling::top_p{0.95},
                     sampling::repetition_penalty{1.2}, sampling::categorical{}};
  opt.batch_size = 4;
  const auto c = generate(lm, std::span<const std::vector<token_id>>(prompts), ch, opt);
  for (std::size_t i = 0; i < prompts.size(); ++i) REQUIRE(c.sequences[i].tokens == runs.front().sequences[i].tokens);
  opt.seed = 99;
  const auto other = generate(lm, std::span<const std::vector<token_id>>(prompts), sampler, opt);
  bool differs = false;
  for (std::size_t i = 0; i < prompts.size(); ++i) differs = differs || other.sequences[i].tokens != c.sequences[i].tokens;
  REQUIRE(differs);
}

TEST_CASE("generate reports model and sampling log-probs per token", "[decoding][generate]") {
  mock_lm lm;
  const auto prompts = make_prompts(4);
  auto sampler = sampling::any_sampler::parse("top_k=5,temperature=0.8");
  const generate_options opt{.max_new_tokens = 6, .seed = 7, .batch_size = 2};
  const auto r = generate(lm, std::span<const std::vector<token_id>>(prompts), sampler, opt);
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const auto& g = r.sequences[i];
    REQUIRE(g.tokens.size() == 6);
    REQUIRE(g.finish == finish_reason::length);
    std::vector<token_id> prefix = prompts[i];
    for (std::size_t t = 0; t < g.tokens.size(); ++t) {
      const auto l = lm.logits_after(prefix);
      REQUIRE(g.model_logprobs[t] == Approx(log_softmax_at(l, g.tokens[t])).margin(1e-5));
      // Sampling distribution: top-5 of l, then /0.8, renormalised.
      sampling::candidates c(l);
      sampling::top_k{5}.apply(c);
      REQUIRE(c.find(g.tokens[t]) >= 0);
      sampling::temperature{0.8}.apply(c);
      const double lq = double(c.logit(c.find(g.tokens[t]))) - c.log_normalizer();
      REQUIRE(g.sampling_logprobs[t] == Approx(lq).margin(1e-5));
      REQUIRE(g.kept_mass[t] < 1.0f);
      prefix.push_back(g.tokens[t]);
    }
  }
  // A temporary sampler and a plain vector of prompts are accepted; same seed, same tokens.
  const auto again = generate(lm, prompts, sampling::any_sampler::parse("top_k=5,temperature=0.8"), opt);
  for (std::size_t i = 0; i < prompts.size(); ++i) REQUIRE(again.sequences[i].tokens == r.sequences[i].tokens);
  // Accounting: 2 chunks × (1 prefill + 5 steps); no step after the last token.
  REQUIRE(r.stats.lm_passes == 12);
  REQUIRE(r.stats.new_tokens == 24);
  REQUIRE(r.stats.seconds >= 0.0);
}

TEST_CASE("EOS, stop tokens and min_new_tokens", "[decoding][generate]") {
  mock_lm lm;
  const std::vector<std::vector<token_id>> prompts{{1, 2}, {5}, {7, 7, 7}};
  sampling::chain greedy{sampling::greedy{}};
  SECTION("EOS ends the sequence and is kept; min_new_tokens bans it before") {
    lm.bias[3] = 50.0f;  // EOS is the argmax everywhere
    generate_options opt{.max_new_tokens = 10, .eos_id = 3};
    auto r = generate(lm, std::span<const std::vector<token_id>>(prompts), greedy, opt);
    for (const auto& g : r.sequences) {
      REQUIRE(g.tokens == std::vector<token_id>{3});
      REQUIRE(g.finish == finish_reason::eos);
    }
    REQUIRE(r.stats.lm_passes == 1);  // everything finished after prefill
    opt.min_new_tokens = 4;
    r = generate(lm, std::span<const std::vector<token_id>>(prompts), greedy, opt);
    for (const auto& g : r.sequences) {
      REQUIRE(g.tokens.size() == 5);
      REQUIRE(g.tokens.back() == 3);
      REQUIRE(std::count(g.tokens.begin(), g.tokens.end(), 3) == 1);
      REQUIRE(g.finish == finish_reason::eos);
      // The model log-prob of a token drawn while EOS was banned is still the raw one (EOS dominates).
      REQUIRE(g.model_logprobs[0] < -40.0f);
      REQUIRE(g.kept_mass[0] < 1e-6f);
    }
  }
  SECTION("stop token ids end the sequence like EOS") {
    lm.bias[9] = 50.0f;
    generate_options opt{.max_new_tokens = 10, .min_new_tokens = 2, .eos_id = 3, .stop_token_ids = {9}};
    const auto r = generate(lm, std::span<const std::vector<token_id>>(prompts), greedy, opt);
    for (const auto& g : r.sequences) {
      REQUIRE(g.tokens.size() == 3);
      REQUIRE(g.tokens.back() == 9);
      REQUIRE(g.finish == finish_reason::stop_token);
    }
  }
  SECTION("stop strings end on the token that completes them") {
    generate_options opt{.max_new_tokens = 20};
    const auto free = generate(lm, std::span<const std::vector<token_id>>(prompts), greedy, opt);
    const auto& ref = free.sequences[0].tokens;
    const std::string text = letters(ref);
    const std::string stop = text.substr(3, 2);
    const std::size_t end = text.find(stop) + stop.size();  // first occurrence ends here
    opt.stop_strings = {stop, "#never#"};
    opt.detokenize = letters;
    const auto r = generate(lm, std::span<const std::vector<token_id>>(prompts), greedy, opt);
    const auto& g = r.sequences[0];
    REQUIRE(g.finish == finish_reason::stop_string);
    REQUIRE(g.tokens == std::vector<token_id>(ref.begin(), ref.begin() + static_cast<std::ptrdiff_t>(end)));
    // min_new_tokens also delays stop strings.
    opt.min_new_tokens = static_cast<index_t>(end) + 1;
    const auto late = generate(lm, std::span<const std::vector<token_id>>(prompts), greedy, opt);
    REQUIRE(late.sequences[0].tokens.size() > end);
  }
}

TEST_CASE("generate rejects bad input with invalid_argument", "[decoding][generate][errors]") {
  mock_lm lm;  // V = 16, max_positions = 40
  sampling::chain s{sampling::categorical{}};
  auto run = [&](std::vector<std::vector<token_id>> prompts, generate_options opt) {
    return generate(lm, std::span<const std::vector<token_id>>(prompts), s, opt);
  };
  const generate_options ok{.max_new_tokens = 4};
  REQUIRE_THROWS_WITH(run({{1}, {}}, ok), Catch::Contains("prompt 1 is empty"));
  REQUIRE_THROWS_WITH(run({{1, 16}}, ok), Catch::Contains("token id 16"));
  REQUIRE_THROWS_WITH(run({std::vector<token_id>(41, 1)}, ok), Catch::Contains("max_positions"));
  REQUIRE_THROWS_WITH(run({std::vector<token_id>(38, 1)}, ok),
                      Catch::Contains("max_new_tokens = 4 does not fit") && Catch::Contains("<= 2"));
  REQUIRE_NOTHROW(run({std::vector<token_id>(36, 1)}, ok));
  REQUIRE_THROWS_AS(run({{1}}, {.max_new_tokens = 0}), invalid_argument);
  REQUIRE_THROWS_WITH(run({{1}}, {.max_new_tokens = 4, .min_new_tokens = 5}), Catch::Contains("min_new_tokens"));
  REQUIRE_THROWS_WITH(run({{1}}, {.max_new_tokens = 4, .eos_id = 16}), Catch::Contains("eos_id"));
  REQUIRE_THROWS_AS(run({{1}}, {.max_new_tokens = 4, .stop_token_ids = {20}}), invalid_argument);
  REQUIRE_THROWS_WITH(run({{1}}, {.max_new_tokens = 4, .stop_strings = {"x"}}), Catch::Contains("detokenize"));
  REQUIRE_THROWS_AS(run({{1}}, {.max_new_tokens = 4, .batch_size = 0}), invalid_argument);
  REQUIRE(lm.prefills == 1);  // only the valid call reached the model
  // Every token banned: a numerical outcome the caller sees as numerical_error, not a crash.
  lm.bias[0] = -INFINITY;
  for (token_id t = 1; t < 16; ++t) lm.bias[t] = -INFINITY;
  REQUIRE_THROWS_AS(run({{1}}, ok), numerical_error);
}
