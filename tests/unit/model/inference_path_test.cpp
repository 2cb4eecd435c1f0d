// SPDX-License-Identifier: MIT
// The transformer's inference path (score / score_tokens / next_token_*): it equals forward,
// keeps no activation arena, and never disturbs a pending backward.
#include <catch2/catch.hpp>

#include <cmath>
#include <span>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/model/transformer.hpp"
#include "support/backends.hpp"
#include "support/gradcheck.hpp"

namespace {

rlhf::gpt2_config small_config() {
  return rlhf::gpt2_config{.vocab_size = 13, .n_positions = 12, .n_embd = 16, .n_layer = 2, .n_head = 2};
}

rlhf::token_batch ragged_batch() {
  const std::vector<std::vector<int>> rows{{1, 4, 7, 2, 9, 12, 3}, {3, 10, 5}, {6, 6}, {11, 0, 2, 8, 1}};
  rlhf::token_batch b;
  b.tokens = xt::xtensor<rlhf::token_id, 2>::from_shape({rows.size(), 7});
  b.tokens.fill(5);  // padding holds a valid id that must not matter
  b.lengths = xt::xtensor<std::int32_t, 1>::from_shape({rows.size()});
  b.response_mask = xt::zeros<std::uint8_t>({rows.size(), std::size_t{7}});
  for (std::size_t i = 0; i < rows.size(); ++i) {
    b.lengths(i) = static_cast<std::int32_t>(rows[i].size());
    for (std::size_t t = 0; t < rows[i].size(); ++t) {
      b.tokens(i, t) = rows[i][t];
      b.response_mask(i, t) = t >= 1;
    }
  }
  return b;
}

template <class Backend, class T>
std::vector<T> host(rlhf::view<const T, typename Backend::space> v) {
  std::vector<T> h(static_cast<std::size_t>(v.size()));
  Backend::to_host(std::span<T>(h), v);
  return h;
}

template <class A, class B>
double max_abs_diff(const A& a, const B& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(static_cast<double>(a.data()[i]) - static_cast<double>(b.data()[i])));
  return worst;
}

template <class Backend, class Head>
void check_head() {
  rlhf::transformer<Backend, Head> m(small_config(), 3);
  const auto batch = ragged_batch();
  const auto fwd = m.forward(batch);
  if constexpr (Head::output_rank == 2) {
    CHECK(max_abs_diff(m.score(batch), fwd) <= 1e-5);
  } else {
    CHECK(max_abs_diff(m.score_tokens(batch), fwd) <= 1e-5);
  }
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("the inference path equals forward for every head", "[model][inference]", rlhf::test::backends) {
  check_head<TestType, rlhf::lm_head>();
  check_head<TestType, rlhf::scalar_head>();
  check_head<TestType, rlhf::token_reward_head>();
  rlhf::transformer<TestType, rlhf::lm_head> m(small_config(), 4);
  const auto batch = ragged_batch();
  m.forward(batch);
  const auto logits = m.next_token_logits(batch), logp = m.next_token_log_probs(batch);
  const auto scored = m.score(batch);
  // log p(token t) read from the full distribution of position t - 1 equals the per-token score.
  double worst = 0;
  for (std::size_t b = 0; b < batch.tokens.shape(0); ++b)
    for (std::size_t t = 1; t < static_cast<std::size_t>(batch.lengths(b)); ++t)
      worst = std::max(worst, std::abs(static_cast<double>(logp(b, t - 1, static_cast<std::size_t>(batch.tokens(b, t)))) - scored(b, t)));
  CHECK(worst <= 1e-5);
  CHECK(logits.shape(2) == 13);
}

TEMPLATE_LIST_TEST_CASE("a score between forward and backward leaves the gradients bit-identical",
                        "[model][inference]", rlhf::test::backends) {
  using B = TestType;
  const auto batch = ragged_batch();
  const auto other = [] {
    rlhf::token_batch b;
    b.tokens = xt::xtensor<rlhf::token_id, 2>{{2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {1, 1, 1, 0, 0, 0, 0, 0, 0, 0}};
    b.lengths = {10, 3};
    b.response_mask = xt::ones<std::uint8_t>({2, 10});
    return b;
  }();
  rlhf::transformer<B, rlhf::lm_head> a(small_config(), 9), c(small_config(), 9);
  const auto out = a.forward(batch);
  auto d = xt::xtensor<float, 2>(out * 0.0f + 1.0f);
  a.zero_grad();
  c.zero_grad();
  c.forward(batch);
  c.backward(d);
  // The same forward, then a score of a LARGER batch (which grows every inference buffer), then
  // the backward of the first forward.
  a.score(other);
  a.score(batch);
  a.backward(d);
  const auto ga = host<B, float>(a.gradients()), gc = host<B, float>(c.gradients());
  CHECK(ga == gc);
  // The scalar head too (a critic scored during a PPO update).
  rlhf::transformer<B, rlhf::scalar_head> v1(small_config(), 2), v2(small_config(), 2);
  const auto vo = v1.forward(batch);
  v2.forward(batch);
  v1.zero_grad();
  v2.zero_grad();
  v1.score(other);
  const auto dv = xt::xtensor<float, 2>(vo * 0.0f + 0.5f);
  v1.backward(dv);
  v2.backward(dv);
  CHECK(host<B, float>(v1.gradients()) == host<B, float>(v2.gradients()));
}

TEST_CASE("the inference path allocates no activation arena", "[model][inference]") {
  using B = rlhf::backend::eigen;
  rlhf::transformer<B, rlhf::lm_head> m({.vocab_size = 64, .n_positions = 64, .n_embd = 32, .n_layer = 4, .n_head = 4}, 1);
  rlhf::token_batch batch;
  batch.tokens = xt::xtensor<rlhf::token_id, 2>::from_shape({8, 64});
  for (std::size_t i = 0; i < batch.tokens.size(); ++i) batch.tokens.data()[i] = static_cast<int>(i * 7 % 64);
  batch.lengths = xt::xtensor<std::int32_t, 1>::from_shape({8});
  batch.lengths.fill(64);
  batch.response_mask = xt::ones<std::uint8_t>({8, 64});
  m.score(batch);
  CHECK(m.activation_bytes() == 0);
  const auto inference = m.inference_bytes();
  CHECK(inference > 0);
  m.forward(batch);
  // forward keeps every layer's activations, attention weights (B, NH, T, T) included; the
  // inference path keeps one block's scratch: with 4 layers it needs well under half.
  INFO("forward " << m.activation_bytes() << " B, inference " << inference << " B");
  CHECK(inference * 2 < m.activation_bytes());
  // One layer's attention weights alone exceed what the inference path holds per extra layer:
  // its size does not grow with the depth.
  rlhf::transformer<B, rlhf::lm_head> deep({.vocab_size = 64, .n_positions = 64, .n_embd = 32, .n_layer = 8, .n_head = 4}, 1);
  deep.score(batch);
  CHECK(deep.inference_bytes() == inference);
}

TEMPLATE_LIST_TEST_CASE("sessions hold the weights, not the model: a moved model's session still decodes",
                        "[model][inference]", rlhf::test::backends) {
  using B = TestType;
  auto make = [] { return rlhf::transformer<B, rlhf::lm_head>(small_config(), 5); };
  auto m = make();
  auto s = m.start_session(1, 8);
  const std::vector<std::vector<rlhf::token_id>> prompt{{1, 2, 3}};
  const auto first = s.prefill(prompt);
  const std::vector<float> before(first.data(), first.data() + first.size());
  auto moved = std::move(m);  // the session keeps working: it shares the parameter arena
  auto s2 = moved.start_session(1, 8);
  const auto again = s.prefill(prompt), fresh = s2.prefill(prompt);
  CHECK(std::vector<float>(again.data(), again.data() + again.size()) == before);
  CHECK(std::vector<float>(fresh.data(), fresh.data() + fresh.size()) == before);
}
