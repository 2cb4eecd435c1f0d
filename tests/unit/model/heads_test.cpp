// SPDX-License-Identifier: MIT
// The heads of rlhf::transformer: what each one computes from the same trunk, the concepts each
// model satisfies, last-token rewards, and the lm_head's log-probabilities.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/model/transformer.hpp"
#include "support/backends.hpp"

namespace {

rlhf::gpt2_config heads_config() {
  return rlhf::gpt2_config{.vocab_size = 13, .n_positions = 8, .n_embd = 8, .n_layer = 1, .n_head = 2};
}

rlhf::token_batch ragged_batch() {
  rlhf::token_batch b;
  b.tokens = xt::xtensor<rlhf::token_id, 2>{{1, 5, 7, 2}, {3, 12, 0, 0}, {6, 0, 0, 0}};
  b.lengths = xt::xtensor<std::int32_t, 1>{4, 2, 1};
  b.response_mask = xt::xtensor<std::uint8_t, 2>{{0, 1, 1, 1}, {0, 1, 0, 0}, {0, 0, 0, 0}};
  return b;
}

template <class Backend, class Head>
void randomise(rlhf::transformer<Backend, Head>& m, std::uint64_t seed) {
  std::vector<float> p(static_cast<std::size_t>(m.parameter_count()));
  rlhf::counter_rng rng(seed, 0);
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<float>(0.3 * rng.normal(i));
  Backend::from_host(m.parameters(), std::span<const float>(p));
}

}  // namespace

TEST_CASE("each head models the concepts of its role", "[model][heads]") {
  using B = rlhf::backend::eigen;
  STATIC_REQUIRE(rlhf::language_model<rlhf::transformer<B, rlhf::lm_head>>);
  STATIC_REQUIRE(rlhf::differentiable_model<rlhf::transformer<B, rlhf::lm_head, double>>);
  STATIC_REQUIRE(rlhf::value_model<rlhf::transformer<B, rlhf::scalar_head>>);
  STATIC_REQUIRE_FALSE(rlhf::language_model<rlhf::transformer<B, rlhf::scalar_head>>);
  STATIC_REQUIRE(rlhf::token_reward_model<rlhf::transformer<B, rlhf::token_reward_head>>);
  STATIC_REQUIRE_FALSE(rlhf::language_model<rlhf::transformer<B, rlhf::token_reward_head>>);
  STATIC_REQUIRE_FALSE(rlhf::value_model<rlhf::transformer<B, rlhf::token_reward_head>>);
}

TEMPLATE_LIST_TEST_CASE("lm_head outputs log p(token_t | tokens_<t) of a normalised next-token distribution",
                        "[model][heads]", rlhf::test::backends) {
  rlhf::transformer<TestType, rlhf::lm_head> m(heads_config(), 5);
  randomise(m, 1);
  const auto b = ragged_batch();
  const auto lp = m.next_token_log_probs(b);
  const auto logits = m.next_token_logits(b);
  const auto out = m.score(b);
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t t = 0; t < 4; ++t) {
      const bool valid = static_cast<int>(t) < b.lengths(r);
      double z = 0, mx = -1e30;
      for (std::size_t v = 0; v < 13; ++v) z += std::exp(double(lp(r, t, v))), mx = std::max(mx, double(logits(r, t, v)));
      if (valid) CHECK(z == Approx(1.0).margin(1e-5));
      else CHECK(z == 13.0);  // padding rows are all 0
      if (valid) {
        double lse = 0;
        for (std::size_t v = 0; v < 13; ++v) lse += std::exp(double(logits(r, t, v)) - mx);
        CHECK(lp(r, t, 3) == Approx(double(logits(r, t, 3)) - mx - std::log(lse)).margin(1e-5));
      }
      if (t >= 1 && valid) CHECK(out(r, t) == Approx(lp(r, t - 1, b.tokens(r, t))).margin(1e-6));
      else CHECK(out(r, t) == 0.0f);
    }
}

TEMPLATE_LIST_TEST_CASE("token_reward_head is the tied LM head without softmax; scalar_head reads score.weight",
                        "[model][heads]", rlhf::test::backends) {
  // Same seed, same trunk: a token reward model starts as the LM's logits (FaRMA's init).
  rlhf::transformer<TestType, rlhf::lm_head> lm(heads_config(), 8);
  rlhf::transformer<TestType, rlhf::token_reward_head> trm(heads_config(), 8);
  rlhf::transformer<TestType, rlhf::scalar_head> rm(heads_config(), 8);
  randomise(lm, 2);
  randomise(trm, 2);
  randomise(rm, 2);  // trunk identical (same flat prefix); score.weight takes the last C values
  const auto b = ragged_batch();
  const auto logits = lm.next_token_logits(b);
  const auto rewards = trm.score_tokens(b);
  CHECK((rewards == logits));
  REQUIRE(rewards.shape(2) == 13);

  // value(b, t) = <score.weight, h(b, t)> and logit(b, t, v) = <wte[v], h(b, t)> over the same
  // trunk: copying score.weight into wte row 0 of the LM (token 0 never occurs at a valid
  // position of this batch, so the trunk is unchanged) makes logit(b, t, 0) the value.
  const auto values = rm.score(b);
  auto rn = rm.named_parameters();
  auto ln = lm.named_parameters();
  REQUIRE(rn.back().name == "score.weight");
  std::vector<float> score(8);
  TestType::to_host(std::span<float>(score), rlhf::view<const float, typename TestType::space>(rn.back().value));
  TestType::from_host(ln[0].value.slice(0, {8}), std::span<const float>(score));
  const auto logits0 = lm.next_token_logits(b);
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t t = 0; t < 4; ++t)
      CHECK(values(r, t) == (static_cast<int>(t) < b.lengths(r) ? Approx(logits0(r, t, 0)).margin(1e-6) : Approx(0.0)));
}

TEST_CASE("last_token_values reads the reward at the last non-padding token", "[model][heads]") {
  rlhf::transformer<rlhf::backend::eigen, rlhf::scalar_head> rm(heads_config(), 3);
  const auto b = ragged_batch();
  const auto v = rm.score(b);
  const auto r = rlhf::last_token_values(b, v);
  REQUIRE(r.size() == 3);
  CHECK(r(0) == v(0, 3));
  CHECK(r(1) == v(1, 1));
  CHECK(r(2) == v(2, 0));
  CHECK(v(1, 2) == 0.0f);  // padding
  // Its gradient scatter puts d r(b) at (b, length - 1) only.
  const auto d = rlhf::last_token_gradient(b, xt::xtensor<float, 1>{1.0f, 2.0f, 3.0f});
  CHECK(d(0, 3) == 1.0f);
  CHECK(d(1, 1) == 2.0f);
  CHECK(d(2, 0) == 3.0f);
  CHECK(xt::sum(d)() == 6.0f);
  auto bad = b;
  bad.lengths(2) = 0;
  CHECK_THROWS_WITH(rlhf::last_token_values(bad, v), Catch::Matchers::Contains("row 2 has length 0"));
  CHECK_THROWS_AS(rlhf::last_token_values(b, xt::xtensor<float, 2>(xt::zeros<float>({2, 4}))),
                  rlhf::invalid_argument);
}
