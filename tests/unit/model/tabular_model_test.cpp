// SPDX-License-Identifier: MIT
// tabular_lm: exact log-probs, finite-difference gradients, decode sessions, bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "rlhf/model/tabular_model.hpp"
#include "support/backends.hpp"
#include "support/gradcheck.hpp"

namespace {

// A batch from rows of ids; response_mask marks positions >= prompt_len of each row.
rlhf::token_batch make_batch(const std::vector<std::vector<rlhf::token_id>>& rows, std::size_t prompt_len,
                             rlhf::token_id pad = 0) {
  std::size_t t_n = 0;
  for (const auto& r : rows) t_n = std::max(t_n, r.size());
  rlhf::token_batch b;
  b.tokens = xt::xtensor<rlhf::token_id, 2>::from_shape({rows.size(), t_n});
  b.tokens.fill(pad);
  b.lengths = xt::xtensor<std::int32_t, 1>::from_shape({rows.size()});
  b.response_mask = xt::zeros<std::uint8_t>({rows.size(), t_n});
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t t = 0; t < rows[i].size(); ++t) {
      b.tokens(i, t) = rows[i][t];
      b.response_mask(i, t) = t >= prompt_len;
    }
    b.lengths(i) = static_cast<std::int32_t>(rows[i].size());
  }
  return b;
}

// log softmax(row)[k] computed directly in long double.
double log_softmax_at(const std::vector<double>& row, std::size_t k) {
  long double s = 0;
  for (double x : row) s += std::exp(static_cast<long double>(x));
  return static_cast<double>(static_cast<long double>(row[k]) - std::log(s));
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("tabular_lm bigram log-probs equal a hand-computed log-softmax of the table rows",
                        "[model][tabular]", rlhf::test::backends) {
  using B = TestType;
  rlhf::tabular_lm<B> lm({.vocab_size = 4});
  // Row c is the next-token logits after token c.
  const std::vector<std::vector<double>> table{
      {0.0, 1.0, 2.0, 3.0}, {std::log(1.0), std::log(2.0), std::log(3.0), std::log(4.0)},
      {5.0, -5.0, 0.5, 0.0}, {0.0, 0.0, 0.0, 0.0}};
  xt::xtensor<float, 2> t = xt::xtensor<float, 2>::from_shape({4, 4});
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 4; ++j) t(i, j) = static_cast<float>(table[i][j]);
  lm.set_logits_table(t);

  const auto batch = make_batch({{1, 3, 2, 0, 1}, {2, 2}, {3}}, 1, /*pad=*/3);
  const auto out = lm.score(batch);
  REQUIRE(out.shape(0) == 3);
  REQUIRE(out.shape(1) == 5);
  // Row 1 of the table is log(1..4): p(next | 1) = k / 10 exactly.
  CHECK(out(0, 1) == Approx(std::log(4.0 / 10.0)).margin(2e-6));
  CHECK(out(0, 2) == Approx(log_softmax_at(table[3], 2)).margin(2e-6));  // uniform: log 1/4
  CHECK(out(0, 2) == Approx(std::log(0.25)).margin(2e-6));
  CHECK(out(0, 3) == Approx(log_softmax_at(table[2], 0)).margin(2e-6));
  CHECK(out(0, 4) == Approx(log_softmax_at(table[0], 1)).margin(2e-6));
  CHECK(out(1, 1) == Approx(log_softmax_at(table[2], 2)).margin(2e-6));
  // t = 0 and padding are exactly 0.
  CHECK(out(0, 0) == 0.0f);
  CHECK(out(1, 0) == 0.0f);
  CHECK(out(1, 2) == 0.0f);
  CHECK(out(2, 0) == 0.0f);
  CHECK(out(2, 4) == 0.0f);
  // forward() gives the same numbers as score().
  const auto fwd = lm.forward(batch);
  CHECK(xt::allclose(fwd, out, 0.0, 0.0));
}

TEST_CASE("tabular_lm bandit context uses the first token; custom context any function of the prefix",
          "[model][tabular]") {
  using B = rlhf::backend::eigen;
  // Bandit: 2 prompts (ids 0, 1) over a vocabulary of 5.
  rlhf::tabular_lm<B> bandit({.vocab_size = 5, .context = rlhf::tabular_context::bandit, .n_contexts = 2});
  xt::xtensor<float, 2> t = xt::zeros<float>({2, 5});
  t(0, 3) = 2.0f;
  t(1, 4) = -1.0f;
  bandit.set_logits_table(t);
  const auto out = bandit.score(make_batch({{0, 3}, {1, 3}, {1, 4, 4}}, 1));
  const double z0 = 4 + std::exp(2.0), z1 = 4 + std::exp(-1.0);
  CHECK(out(0, 1) == Approx(2.0 - std::log(z0)).margin(2e-6));
  CHECK(out(1, 1) == Approx(-std::log(z1)).margin(2e-6));
  CHECK(out(2, 2) == Approx(-1.0 - std::log(z1)).margin(2e-6));  // context is still the prompt
  CHECK_THROWS_AS(bandit.score(make_batch({{2, 3}}, 1)), rlhf::invalid_argument);  // prompt id 2 >= 2

  // Custom: context = length of the prefix modulo 3.
  rlhf::tabular_lm<B> custom({.vocab_size = 3, .context = rlhf::tabular_context::custom, .n_contexts = 3},
                             [](std::span<const rlhf::token_id> p) { return static_cast<rlhf::index_t>(p.size() % 3); });
  xt::xtensor<float, 2> c = xt::zeros<float>({3, 3});
  c(1, 2) = 1.0f;  // after a prefix of length 1, token 2 is e times as likely
  c(2, 0) = 3.0f;
  custom.set_logits_table(c);
  const auto o = custom.score(make_batch({{1, 2, 0, 1}}, 0));
  CHECK(o(0, 1) == Approx(1.0 - std::log(2 + std::exp(1.0))).margin(2e-6));
  CHECK(o(0, 2) == Approx(3.0 - std::log(2 + std::exp(3.0))).margin(2e-6));
  CHECK(o(0, 3) == Approx(-std::log(3.0)).margin(2e-6));
  rlhf::tabular_lm<B> bad({.vocab_size = 3, .context = rlhf::tabular_context::custom, .n_contexts = 2},
                          [](std::span<const rlhf::token_id> p) { return static_cast<rlhf::index_t>(p.size()); });
  CHECK_THROWS_AS(bad.score(make_batch({{1, 2, 0}}, 0)), rlhf::invalid_argument);
}

TEMPLATE_LIST_TEST_CASE("tabular_lm backward matches finite differences in double precision", "[model][tabular][grad]",
                        rlhf::test::backends) {
  using B = TestType;
  for (auto mode : {rlhf::tabular_context::bigram, rlhf::tabular_context::bandit}) {
    rlhf::tabular_lm<B, double> lm({.vocab_size = 5, .context = mode, .init_std = 1.0}, /*seed=*/7);
    // Repeated contexts and targets make the scatter-add accumulate into shared rows.
    const auto batch = make_batch({{1, 3, 3, 0, 4, 3}, {2, 2, 1}, {4, 3, 1, 1}}, 1, /*pad=*/4);
    const auto w_vec = rlhf::test::random_vector(3 * 6, 11);
    xt::xtensor<double, 2> w = xt::xtensor<double, 2>::from_shape({3, 6});
    std::copy(w_vec.begin(), w_vec.end(), w.begin());

    lm.zero_grad();
    lm.forward(batch);
    lm.backward(w);
    lm.backward(w);  // accumulates: the gradient is now 2 ∂L/∂table
    auto table = lm.logits_table();
    std::vector<double> x(table.begin(), table.end());
    std::vector<double> analytic(x.size());
    B::to_host(std::span<double>(analytic), lm.gradients());
    for (double& g : analytic) g /= 2;

    auto loss = [&] {
      std::copy(x.begin(), x.end(), table.begin());
      lm.set_logits_table(table);
      const auto out = lm.score(batch);
      double l = 0;
      for (std::size_t i = 0; i < out.size(); ++i) l += w.data()[i] * out.data()[i];
      return l;
    };
    const auto numeric = rlhf::test::numerical_gradient(loss, std::span<double>(x));
    INFO("mode " << rlhf::to_string(mode));
    CHECK(rlhf::test::relative_error(analytic, numeric) < 1e-8);
    // A table row no position uses as its context gets exactly zero gradient.
    if (mode == rlhf::tabular_context::bandit)
      for (std::size_t j = 0; j < 5; ++j) CHECK(analytic[0 * 5 + j] == 0.0);  // no prompt 0
  }
}

TEST_CASE("tabular_lm decode session returns the table rows of each prefix's context", "[model][tabular][session]") {
  using B = rlhf::backend::eigen;
  rlhf::tabular_lm<B> lm({.vocab_size = 6, .max_positions = 8, .init_std = 0.5}, 3);
  const auto table = lm.logits_table();
  auto row_equals = [&](rlhf::host_view<const float> logits, rlhf::index_t r, rlhf::index_t ctx) {
    for (rlhf::index_t v = 0; v < 6; ++v)
      if (logits[r * 6 + v] != table(static_cast<std::size_t>(ctx), static_cast<std::size_t>(v))) return false;
    return true;
  };
  auto s = lm.start_session(3, 5);
  const std::vector<std::vector<rlhf::token_id>> prompts{{1, 4}, {2}, {0, 5, 3}};
  auto l = s.prefill(prompts);
  REQUIRE(l.dim(0) == 3);
  REQUIRE(l.dim(1) == 6);
  CHECK(row_equals(l, 0, 4));
  CHECK(row_equals(l, 1, 2));
  CHECK(row_equals(l, 2, 3));
  CHECK(s.length(2) == 3);

  const std::vector<rlhf::token_id> step1{5, -1, 1};
  l = s.step(step1);
  CHECK(row_equals(l, 0, 5));
  CHECK(row_equals(l, 1, 2));  // finished row: untouched
  CHECK(row_equals(l, 2, 1));
  CHECK(s.length(0) == 3);
  CHECK(s.length(1) == 1);

  const std::vector<rlhf::token_id> cands{0, 3, 3};
  const auto c = s.score_candidates(0, cands);
  REQUIRE(c.dim(0) == 3);
  CHECK(row_equals(c, 0, 0));
  CHECK(row_equals(c, 1, 3));
  CHECK(row_equals(c, 2, 3));
  CHECK(s.length(0) == 3);  // unchanged

  // truncate then re-step equals a fresh decode of the same tokens.
  s.truncate(0, 1);
  const std::vector<rlhf::token_id> step2{2, -1, -1};
  l = s.step(step2);
  CHECK(row_equals(l, 0, 2));
  CHECK(std::vector<rlhf::token_id>(s.tokens(0).begin(), s.tokens(0).end()) == std::vector<rlhf::token_id>{1, 2});

  // Capacity 5: row 2 has 4 tokens; one more fits, the next does not.
  const std::vector<rlhf::token_id> step3{-1, -1, 0};
  s.step(step3);
  CHECK_THROWS_AS(s.step(step3), rlhf::invalid_argument);
  // Bad input.
  const std::vector<rlhf::token_id> bad_tok{6, -1, -1};
  CHECK_THROWS_AS(s.step(bad_tok), rlhf::invalid_argument);
  const std::vector<rlhf::token_id> wrong_rows{1, 1};
  CHECK_THROWS_AS(s.step(wrong_rows), rlhf::invalid_argument);
  CHECK_THROWS_AS(s.truncate(0, 3), rlhf::invalid_argument);
  CHECK_THROWS_AS(s.length(3), rlhf::invalid_argument);
  const std::vector<std::vector<rlhf::token_id>> empty_prompt{{1}, {}, {2}};
  CHECK_THROWS_AS(s.prefill(empty_prompt), rlhf::invalid_argument);
  CHECK_THROWS_AS(lm.start_session(1, 9), rlhf::invalid_argument);  // capacity > max_positions
}

TEST_CASE("tabular_lm rejects bad input with rlhf::invalid_argument", "[model][tabular][errors]") {
  using B = rlhf::backend::eigen;
  CHECK_THROWS_AS(rlhf::tabular_lm<B>({.vocab_size = 0}), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::tabular_lm<B>({.vocab_size = 4, .n_contexts = 3}), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::tabular_lm<B>({.vocab_size = 4, .context = rlhf::tabular_context::custom, .n_contexts = 2}),
                  rlhf::invalid_argument);  // no context function
  CHECK_THROWS_AS(rlhf::tabular_lm<B>({.vocab_size = 4, .init_std = -1}), rlhf::invalid_argument);
  rlhf::tabular_lm<B> lm({.vocab_size = 4, .max_positions = 4});
  CHECK_THROWS_AS(lm.backward(xt::zeros<float>({1, 2})), rlhf::invalid_argument);  // before forward
  CHECK_THROWS_WITH(lm.score(make_batch({{1, 4}}, 1)), Catch::Contains("token id 4") && Catch::Contains("[0, 4)"));
  CHECK_THROWS_AS(lm.score(make_batch({{1, 2, 3, 1, 2}}, 1)), rlhf::invalid_argument);  // 5 > max_positions
  auto batch = make_batch({{1, 2}}, 1);
  batch.lengths(0) = 3;
  CHECK_THROWS_AS(lm.score(batch), rlhf::invalid_argument);
  lm.forward(make_batch({{1, 2}}, 1));
  CHECK_THROWS_AS(lm.backward(xt::zeros<float>({2, 2})), rlhf::invalid_argument);
  CHECK_THROWS_AS(lm.set_logits_table(xt::zeros<float>({3, 4})), rlhf::invalid_argument);
  // Padding may hold any id, even an out-of-range one: it is never read.
  auto padded = make_batch({{1, 2, 3}, {1}}, 1);
  padded.tokens(1, 2) = 99;
  CHECK_NOTHROW(lm.score(padded));
}

TEST_CASE("tabular_lm exposes one named parameter logits.weight", "[model][tabular]") {
  rlhf::tabular_lm<rlhf::backend::eigen> lm({.vocab_size = 7});
  const auto p = lm.named_parameters();
  REQUIRE(p.size() == 1);
  CHECK(p[0].name == "logits.weight");
  CHECK(p[0].value.extents() == rlhf::shape{7, 7});
  CHECK(lm.parameter_count() == 49);
  CHECK(p[0].value.data() == lm.parameters().data());
  CHECK(p[0].grad.data() == lm.gradients().data());
  STATIC_REQUIRE(rlhf::language_model<rlhf::tabular_lm<rlhf::backend::eigen>>);
  STATIC_REQUIRE(rlhf::differentiable_model<rlhf::tabular_lm<rlhf::backend::eigen, double>>);
  STATIC_REQUIRE(!rlhf::token_reward_model<rlhf::tabular_lm<rlhf::backend::eigen>>);
}

// ---- the tabular siblings: value model (reward / critic / CD value) and token reward model ----

TEMPLATE_LIST_TEST_CASE("tabular value and token-reward models read the row of each position's state",
                        "[model][tabular]", rlhf::test::backends) {
  using B = TestType;
  rlhf::tabular_value_model<B> value({.vocab_size = 4, .init_std = 0.7}, 2);
  rlhf::tabular_token_reward_model<B> token({.vocab_size = 4, .init_std = 0.7}, 2);
  REQUIRE(value.width() == 1);
  REQUIRE(token.width() == 4);
  const auto batch = make_batch({{1, 3, 0, 2}, {2, 2}}, 1, /*pad=*/3);
  const auto vt = value.logits_table(), tt = token.logits_table();
  const auto v = value.score(batch);
  const auto r = token.score_tokens(batch);
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t t = 0; t < 4; ++t) {
      const bool valid = t < static_cast<std::size_t>(batch.lengths(b));
      // bigram: the state after token t is the token itself
      const auto c = static_cast<std::size_t>(batch.tokens(b, t));
      CHECK(v(b, t) == (valid ? vt(c, 0) : 0.0f));
      for (std::size_t k = 0; k < 4; ++k) CHECK(r(b, t, k) == (valid ? tt(c, k) : 0.0f));
    }
  // Sessions return their role's result type with the same numbers.
  auto vs = value.start_session(2, 6);
  auto ts = token.start_session(2, 6);
  const std::vector<std::vector<rlhf::token_id>> prompts{{1, 3}, {2}};
  const rlhf::value_rows vr = vs.prefill(prompts);
  const rlhf::token_reward_rows tr = ts.prefill(prompts);
  CHECK(vr[0] == vt(3, 0));
  CHECK(vr[1] == vt(2, 0));
  CHECK(tr.row(0)[2] == tt(3, 2));
  const std::vector<rlhf::token_id> cands{0, 1};
  CHECK(vs.score_candidates(1, cands)[1] == vt(1, 0));
  CHECK(ts.score_candidates(0, cands).row(0)[3] == tt(0, 3));
}

TEMPLATE_LIST_TEST_CASE("tabular value and token-reward backward match finite differences in double",
                        "[model][tabular][gradcheck]", rlhf::test::backends) {
  using B = TestType;
  const auto batch = make_batch({{1, 3, 3, 0, 4, 3}, {2, 2, 1}, {4, 3, 1, 1}}, 1, /*pad=*/4);
  auto check = [&](auto& model, auto weights) {
    model.zero_grad();
    model.forward(batch);
    model.backward(weights);
    auto table = model.logits_table();
    std::vector<double> x(table.begin(), table.end());
    std::vector<double> analytic(x.size());
    B::to_host(std::span<double>(analytic), model.gradients());
    auto loss = [&] {
      std::copy(x.begin(), x.end(), table.begin());
      model.set_logits_table(table);
      const auto out = model.forward(batch);
      double l = 0;
      for (std::size_t i = 0; i < out.size(); ++i) l += weights.data()[i] * out.data()[i];
      return l;
    };
    const auto numeric = rlhf::test::numerical_gradient(loss, std::span<double>(x));
    CHECK(rlhf::test::relative_error(analytic, numeric) < 1e-8);
  };
  rlhf::tabular_value_model<B, double> value({.vocab_size = 5, .init_std = 0.5}, 4);
  xt::xtensor<double, 2> wv = xt::xtensor<double, 2>::from_shape({3, 6});
  const auto rv = rlhf::test::random_vector(wv.size(), 21);
  std::copy(rv.begin(), rv.end(), wv.begin());
  check(value, wv);
  rlhf::tabular_token_reward_model<B, double> token({.vocab_size = 5, .init_std = 0.5}, 4);
  xt::xtensor<double, 3> wt = xt::xtensor<double, 3>::from_shape({3, 6, 5});
  const auto rt = rlhf::test::random_vector(wt.size(), 22);
  std::copy(rt.begin(), rt.end(), wt.begin());
  check(token, wt);
  // A critic is the value model read at every position (the same type).
  STATIC_REQUIRE(std::is_same_v<rlhf::tabular_critic<B>, rlhf::tabular_value_model<B>>);
}
