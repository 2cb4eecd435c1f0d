// SPDX-License-Identifier: MIT
// rlhf::generate on the library's own causal LMs: the exact tabular_lm (bit-identical results
// for every batch size and thread count) and the tiny GPT-2 transformer with its KV cache
// (same tokens for every batch size; the model log-probs reported while sampling equal what the
// model's full forward pass scores for the same sequences, which is what PPO recomputes).
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/decoding.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/sampling.hpp"
#include "support/backends.hpp"

using namespace rlhf;

namespace {
std::vector<std::vector<token_id>> prompts_for(index_t vocab, std::size_t n) {
  std::vector<std::vector<token_id>> p;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<token_id> q;
    for (std::size_t j = 0; j <= i % 4; ++j) q.push_back(static_cast<token_id>((i * 5 + j * 3 + 1) % static_cast<std::size_t>(vocab)));
    p.push_back(q);
  }
  return p;
}

/// prompt ⊕ response as one row, response tokens masked in.
token_batch as_batch(const std::vector<token_id>& prompt, const std::vector<token_id>& response) {
  token_batch b;
  const std::size_t n = prompt.size() + response.size();
  b.tokens = xt::xtensor<token_id, 2>::from_shape({1, n});
  b.response_mask = xt::zeros<std::uint8_t>({std::size_t{1}, n});
  for (std::size_t i = 0; i < prompt.size(); ++i) b.tokens(0, i) = prompt[i];
  for (std::size_t i = 0; i < response.size(); ++i) {
    b.tokens(0, prompt.size() + i) = response[i];
    b.response_mask(0, prompt.size() + i) = 1;
  }
  b.lengths = xt::xtensor<std::int32_t, 1>({static_cast<std::int32_t>(n)});
  return b;
}

gpt2_config tiny_gpt() {
  return gpt2_config{.vocab_size = 37, .n_positions = 24, .n_embd = 16, .n_layer = 2, .n_head = 4};
}
}  // namespace

TEST_CASE("generate on tabular_lm is identical for batch sizes 1/3/8 and 1/2 threads", "[decoding][generate][tabular]") {
  tabular_lm<backend::eigen> lm(tabular_config{.vocab_size = 20, .max_positions = 32, .init_std = 1.5}, 5);
  const auto prompts = prompts_for(20, 9);
  auto sampler = sampling::any_sampler::parse("top_k=10,top_p=0.9,frequency_penalty=0.3");
  generate_options opt{.max_new_tokens = 15, .eos_id = 0, .seed = 77};
  std::vector<generate_result> runs;
  for (const index_t bs : {1, 3, 8})
    for (const int th : {1, 2}) {
      opt.batch_size = bs;
      opt.threads = th;
      runs.push_back(generate(lm, std::span<const std::vector<token_id>>(prompts), sampler, opt));
    }
  const auto table = lm.logits_table();
  for (const auto& r : runs)
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      REQUIRE(r.sequences[i].tokens == runs[0].sequences[i].tokens);
      REQUIRE(r.sequences[i].model_logprobs == runs[0].sequences[i].model_logprobs);
      REQUIRE(r.sequences[i].sampling_logprobs == runs[0].sequences[i].sampling_logprobs);
    }
  // Model log-probs are the bigram table's log-softmax at the previous token.
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const auto& g = runs[0].sequences[i];
    token_id prev = prompts[i].back();
    for (std::size_t t = 0; t < g.tokens.size(); ++t) {
      double m = -INFINITY, z = 0;
      for (index_t v = 0; v < 20; ++v) m = std::max(m, double(table(prev, v)));
      for (index_t v = 0; v < 20; ++v) z += std::exp(double(table(prev, v)) - m);
      REQUIRE(g.model_logprobs[t] == Approx(double(table(prev, g.tokens[t])) - m - std::log(z)).margin(1e-5));
      prev = g.tokens[t];
    }
  }
}

TEMPLATE_LIST_TEST_CASE("generate on the tiny transformer: batch-invariant tokens, log-probs equal to score()",
                        "[decoding][generate][transformer]", test::backends) {
  transformer<TestType, lm_head> lm(tiny_gpt(), 3);
  const auto prompts = prompts_for(37, 7);
  sampling::chain sampler{sampling::top_k{20}, sampling::temperature{0.8}, sampling::categorical{}};
  generate_options opt{.max_new_tokens = 10, .eos_id = 36, .seed = 5};
  std::vector<generate_result> runs;
  for (const index_t bs : {1, 3, 8}) {
    opt.batch_size = bs;
    opt.threads = bs == 8 ? 2 : 1;
    runs.push_back(generate(lm, std::span<const std::vector<token_id>>(prompts), sampler, opt));
  }
  for (const auto& r : runs)
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      REQUIRE(r.sequences[i].tokens == runs[0].sequences[i].tokens);
      for (std::size_t t = 0; t < r.sequences[i].tokens.size(); ++t)
        REQUIRE(r.sequences[i].model_logprobs[t] == Approx(runs[0].sequences[i].model_logprobs[t]).margin(1e-4));
    }
  // One prefill + at most 9 steps per chunk of rows.
  REQUIRE(runs[0].stats.lm_passes <= 7 * 10);
  REQUIRE(runs[2].stats.lm_passes <= 10);
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const auto& g = runs[0].sequences[i];
    const auto scored = lm.score(as_batch(prompts[i], g.tokens));
    for (std::size_t t = 0; t < g.tokens.size(); ++t)
      REQUIRE(g.model_logprobs[t] == Approx(scored(0, prompts[i].size() + t)).margin(2e-4));
  }
}

#if defined(RLHF_TEST_THRUST) && RLHF_TEST_THRUST
TEST_CASE("generate samples the same tokens on eigen and thrust_host with the same seed",
          "[decoding][generate][transformer][backends]") {
  transformer<backend::eigen, lm_head> a(tiny_gpt(), 9);
  transformer<backend::thrust_host, lm_head> b(tiny_gpt(), 9);
  const auto prompts = prompts_for(37, 6);
  auto sampler = sampling::any_sampler::parse("temperature=0.9,top_k=30,top_p=0.95");
  const generate_options opt{.max_new_tokens = 12, .eos_id = 36, .seed = 21, .batch_size = 3};
  const auto ra = generate(a, std::span<const std::vector<token_id>>(prompts), sampler, opt);
  const auto rb = generate(b, std::span<const std::vector<token_id>>(prompts), sampler, opt);
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    REQUIRE(ra.sequences[i].tokens == rb.sequences[i].tokens);
    for (std::size_t t = 0; t < ra.sequences[i].tokens.size(); ++t)
      CHECK(ra.sequences[i].model_logprobs[t] == Approx(rb.sequences[i].model_logprobs[t]).margin(1e-4));
  }
}
#endif
