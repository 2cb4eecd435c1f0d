// SPDX-License-Identifier: MIT
// Token reward models: the gathered read-out (forward_picked / backward_picked) against the full
// (B, T, V) forward and its dense backward; FaRMA's L1 and L2 (both stop-gradient settings) and
// GenARM's loss against finite differences through a tiny transformer (double); FaRMA's L2 steps
// lower the consistency error without costing held-out accuracy; on synthetic preferences from a
// known rule with Bradley–Terry noise, FaRMA and GenARM rank held-out pairs nearly as well as the
// rule itself.
#include <catch2/catch.hpp>

#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/train/farma.hpp"
#include "rlhf/train/genarm.hpp"
#include "support/backends.hpp"
#include "support/gradcheck.hpp"
#include "support/train_fixtures.hpp"

namespace {

using rlhf::index_t;
using rlhf::token_id;
using rlhf::data::preference_example;
namespace rt = rlhf::train;

using rlhf::test::grads_of;
using rlhf::test::params_of;
using rlhf::test::set_params;

/// Pairs with prompts of 1-2 tokens and responses of 1-4 tokens (counter stream 3).
std::vector<preference_example> random_pairs(std::size_t n, index_t v, std::uint64_t seed) {
  return rlhf::test::random_pairs(n, v, seed, {.stream = 3, .max_prompt = 2});
}

/// Synthetic text preferences from a known rule: prompt {0}, responses of `len` tokens from
/// 1..5; the true reward is 1.5 × (number of "good" tokens 1 and 2). Labels are drawn by
/// Bradley–Terry from the true reward (P(a ≻ b) = σ(r*(a) - r*(b))); pairs whose true rewards tie
/// are not drawn, so the rule's accuracy is the fraction of labels the noise left right.
struct synthetic {
  std::vector<preference_example> train, held_out;
  double rule_accuracy = 0;  // of the held-out labels
};
double true_reward(const std::vector<token_id>& a) {
  double r = 0;
  for (token_id t : a) r += (t == 1 || t == 2) ? 1.5 : 0.0;
  return r;
}
synthetic synthetic_preferences(std::size_t n_train, std::size_t n_test, std::size_t len, std::uint64_t seed) {
  const rlhf::counter_rng rng(seed, 9);
  std::uint64_t c = 0;
  synthetic s;
  double right = 0;
  while (s.train.size() + s.held_out.size() < n_train + n_test) {
    std::vector<token_id> a, b;
    for (std::size_t i = 0; i < len; ++i) a.push_back(1 + static_cast<token_id>(rng.uniform(c++) * 5));
    for (std::size_t i = 0; i < len; ++i) b.push_back(1 + static_cast<token_id>(rng.uniform(c++) * 5));
    const double ra = true_reward(a), rb = true_reward(b);
    if (ra == rb) continue;
    const bool a_wins = rng.uniform(c++) < 1.0 / (1.0 + std::exp(-(ra - rb)));
    preference_example p{{0}, a_wins ? a : b, a_wins ? b : a};
    if (s.train.size() < n_train) {
      s.train.push_back(std::move(p));
    } else {
      right += true_reward(p.chosen_ids) > true_reward(p.rejected_ids) ? 1.0 : 0.0;
      s.held_out.push_back(std::move(p));
    }
  }
  s.rule_accuracy = right / static_cast<double>(n_test);
  return s;
}

/// Tabular context (position in the response, good tokens so far): rich enough for the rule and
/// for a max-consistent token reward (the value of a prefix = its count + what the rest can add).
constexpr index_t max_len = 6;
index_t position_count_context(std::span<const token_id> prefix) {
  const auto i = static_cast<index_t>(prefix.size()) - 1;  // response tokens in the prefix
  index_t good = 0;
  for (std::size_t t = 1; t < prefix.size(); ++t) good += (prefix[t] == 1 || prefix[t] == 2) ? 1 : 0;
  return i * (max_len + 1) + good;
}
rlhf::tabular_config position_count_config() {
  return {.vocab_size = 6, .context = rlhf::tabular_context::custom, .n_contexts = (max_len + 1) * (max_len + 1),
          .max_positions = max_len + 1};
}

const rlhf::gpt2_config tiny{.vocab_size = 7, .n_positions = 10, .n_embd = 8, .n_layer = 1, .n_head = 2};

}  // namespace

TEMPLATE_LIST_TEST_CASE("token rewards: the gathered read-out equals the full forward's entries and its backward the "
                        "dense backward",
                        "[farma][train][readout]", rlhf::test::backends) {
  using B = TestType;
  const auto pairs = random_pairs(5, 7, 1);
  std::vector<rlhf::data::sequence_pair> rows;
  for (const auto& p : pairs) rows.push_back({p.prompt_ids, p.chosen_ids});
  const auto batch = rlhf::data::collate(std::span<const rlhf::data::sequence_pair>(rows), {.pad_id = 3});
  const auto w_picked = rlhf::test::random_vector(batch.tokens.size(), 11);
  const auto w_max = rlhf::test::random_vector(batch.tokens.size(), 12);
  const auto check = [&](auto& a, auto& b) {
    using T = typename std::remove_cvref_t<decltype(a)>::value_type;
    const auto full = a.forward(batch);
    const auto got = b.forward_picked(batch);
    const auto inferred = b.score_picked(batch);
    // Double parentheses, as heads_test and transformer_test: nvcc's front end finds Catch's
    // `Decomposer <= x` and xtensor's element-wise `<=` equally good for an xtensor operand.
    CHECK((inferred.picked == got.picked));
    CHECK((inferred.max == got.max));
    xt::xtensor<T, 3> dense = xt::zeros<T>(full.shape());
    xt::xtensor<T, 2> dp = xt::zeros<T>(got.picked.shape()), dm = xt::zeros<T>(got.max.shape());
    for (std::size_t r = 0; r < batch.tokens.shape(0); ++r) {
      const auto len = static_cast<std::size_t>(batch.lengths(r));
      for (std::size_t t = 0; t < batch.tokens.shape(1); ++t) {
        const std::size_t k = r * batch.tokens.shape(1) + t;
        dp(r, t) = static_cast<T>(w_picked[k]);
        dm(r, t) = static_cast<T>(w_max[k]);
        if (t >= len) {
          CHECK(got.picked(r, t) == 0);
          CHECK(got.max(r, t) == 0);
          CHECK(got.argmax(r, t) == -1);
          continue;
        }
        T best = full(r, t, 0);
        int arg = 0;
        for (std::size_t v = 1; v < full.shape(2); ++v)
          if (full(r, t, v) > best) best = full(r, t, static_cast<std::size_t>(arg = static_cast<int>(v)));
        CHECK(got.max(r, t) == best);
        CHECK(got.argmax(r, t) == arg);
        dense(r, t, static_cast<std::size_t>(arg)) += dm(r, t);
        if (t == 0) {
          CHECK(got.picked(r, t) == 0);
        } else {
          const auto tok = static_cast<std::size_t>(batch.tokens(r, t));
          CHECK(got.picked(r, t) == full(r, t - 1, tok));
          dense(r, t - 1, tok) += dp(r, t);
        }
      }
    }
    a.zero_grad();
    b.zero_grad();
    a.backward(dense);
    b.backward_picked(dp, dm);
    const auto ga = grads_of(a), gb = grads_of(b);
    CHECK(rlhf::test::relative_error(ga, gb) < 1e-12);
    double norm = 0;
    for (double g : gb) norm += g * g;
    CHECK(norm > 0);
  };
  SECTION("tabular") {
    rlhf::tabular_token_reward_model<B, double> a({.vocab_size = 7, .init_std = 1.0}, 2), b({.vocab_size = 7, .init_std = 1.0}, 2);
    check(a, b);
  }
  SECTION("transformer") {
    rlhf::transformer<B, rlhf::token_reward_head, double> a(tiny, 4), b(tiny, 4);
    check(a, b);
  }
  SECTION("backward_picked needs forward_picked") {
    rlhf::tabular_token_reward_model<B, double> m({.vocab_size = 7});
    m.forward(batch);
    const xt::xtensor<double, 2> z = xt::zeros<double>({batch.tokens.shape(0), batch.tokens.shape(1)});
    CHECK_THROWS_AS(m.backward_picked(z, z), rlhf::invalid_argument);
    m.forward_picked(batch);
    const xt::xtensor<double, 2> wrong = xt::zeros<double>({1, 1});
    CHECK_THROWS_AS(m.backward_picked(wrong, z), rlhf::invalid_argument);
  }
}

TEST_CASE("farma: L1 and L2 (both stop-gradient settings) match finite differences through the tiny transformer",
          "[farma][train][gradcheck][transformer]") {
  using tf_d = rlhf::transformer<rlhf::backend::eigen, rlhf::token_reward_head, double>;
  const auto pairs = random_pairs(5, 7, 5);
  rt::farma_config cfg;
  cfg.l1.batch_size = 2;  // several micro-batches: the normaliser is the whole batch's
  cfg.l1.margin = 0.2;
  cfg.l1.center = 0.05;
  const auto check = [&](tf_d& m, int phase, bool stop_max, std::size_t stride) {
    auto c = cfg;
    c.stop_gradient_max = stop_max;
    rt::farma_trainer<tf_d> trainer(c);
    auto x = params_of(m);
    m.zero_grad();
    const auto out = trainer.accumulate(m, pairs, phase);
    const auto analytic = grads_of(m);
    const auto e0 = rt::evaluate_farma(m, pairs, 3, 0, trainer.objective());
    // With the max as a constant, L2's gradient is that of ½ mean (r - m₀)² with m₀ the maxima at x.
    std::vector<double> m0;
    std::vector<preference_example> chosen_only;
    for (const auto& p : pairs) chosen_only.push_back(p);
    const auto frozen_max = [&]() {
      std::vector<rlhf::data::sequence_pair> rows;
      for (const auto& p : pairs) rows.push_back({p.prompt_ids, p.chosen_ids});
      return rlhf::data::collate(std::span<const rlhf::data::sequence_pair>(rows), {});
    }();
    const auto r0 = m.score_picked(frozen_max);
    const rlhf::data::response_view rv(frozen_max);
    const auto f = [&] {
      set_params(m, x);
      if (phase == 1) return rt::evaluate_farma(m, pairs, 3, 0, trainer.objective()).l1.loss;
      if (!stop_max) return rt::evaluate_farma(m, pairs, 3, 0, trainer.objective()).l2;
      const auto r = m.score_picked(frozen_max);
      double s = 0;
      for (index_t b = 0; b < rv.rows(); ++b)
        for (index_t j = 0; j < rv.length(b); ++j) {
          const auto t = static_cast<std::size_t>(rv.start(b) + j), bb = static_cast<std::size_t>(b);
          s += 0.5 * std::pow(r.picked(bb, t) - r0.max(bb, t), 2);
        }
      return s / static_cast<double>(rv.total());
    };
    CHECK(out.loss == Approx(phase == 1 ? e0.l1.loss : e0.l2).epsilon(1e-12));
    std::vector<double> want, got;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (i % stride != 0 && i + 8 < x.size()) continue;
      want.push_back(rlhf::test::numerical_partial(f, std::span<double>(x), i));
      got.push_back(analytic[i]);
    }
    set_params(m, x);
    const double err = rlhf::test::relative_error(got, want);
    INFO("phase " << phase << " stop_gradient_max " << stop_max << ": relative error " << err);
    CHECK(err < 1e-6);
    double norm = 0;
    for (double g : got) norm += g * g;
    CHECK(norm > 0);
  };
  SECTION("L1") {
    tf_d m(tiny, 7);
    check(m, 1, false, 2);
  }
  SECTION("L2, gradients into both sides (the reference)") {
    tf_d m(tiny, 8);
    check(m, 2, false, 2);
  }
  SECTION("L2, stop-gradient on the max") {
    tf_d m(tiny, 9);
    check(m, 2, true, 2);
  }
}

TEST_CASE("genarm: the BT loss on summed log-probs matches finite differences through the tiny transformer",
          "[genarm][train][gradcheck][transformer]") {
  using lm_d = rlhf::transformer<rlhf::backend::eigen, rlhf::lm_head, double>;
  const auto pairs = random_pairs(5, 7, 15);
  rt::genarm_config cfg;
  cfg.reward.batch_size = 2;
  cfg.reward.margin = 0.1;
  cfg.beta_r = 0.7;
  rt::genarm_trainer<lm_d> trainer(cfg);
  lm_d m(tiny, 3);
  auto x = params_of(m);
  m.zero_grad();
  const auto out = trainer.accumulate(m, pairs);
  const auto analytic = grads_of(m);
  const auto f = [&] {
    set_params(m, x);
    return rt::evaluate_genarm(m, pairs, 3, 0, cfg.beta_r, trainer.objective()).loss;
  };
  CHECK(out.loss == Approx(f()).epsilon(1e-12));
  std::vector<double> want, got;
  for (std::size_t i = 0; i < x.size(); i += 2) {
    want.push_back(rlhf::test::numerical_partial(f, std::span<double>(x), i));
    got.push_back(analytic[i]);
  }
  set_params(m, x);
  CHECK(rlhf::test::relative_error(got, want) < 1e-6);
}

TEST_CASE("farma: L2 steps lower the consistency error while held-out accuracy stays within 3 points",
          "[farma][train][consistency]") {
  using tab = rlhf::tabular_token_reward_model<rlhf::backend::eigen>;
  const auto data = synthetic_preferences(600, 400, 4, 21);
  tab m(position_count_config(), position_count_context);
  rt::farma_config cfg;
  cfg.l1.optimizer = {.lr = 0.05, .min_lr = 0.05, .max_grad_norm = 0.0};
  cfg.l1.batch_size = 20;
  cfg.l1.shuffle = true;
  cfg.l1.seed = 3;
  cfg.alternation = rt::farma_alternation::epoch;
  cfg.rounds = 3;
  std::vector<rt::farma_metrics> evals;
  const auto eval = [&](tab& model) {
    evals.push_back(rt::evaluate_farma(model, data.held_out, 64, 0));
    return to_json(evals.back());
  };
  const index_t pass = 600 / 20;
  rt::farma_trainer<tab> trainer(cfg, {.eval_every = pass});
  REQUIRE(trainer.planned_steps(600) == 6 * pass);
  CHECK(trainer.plan(pass - 1, 600).phase == 1);
  CHECK(trainer.plan(pass, 600).phase == 2);
  const auto before = rt::evaluate_farma(m, data.held_out, 64, 0);
  trainer.train(m, data.train, eval);
  REQUIRE(evals.size() == 6);
  for (std::size_t i = 0; i < evals.size(); ++i)
    UNSCOPED_INFO("after pass " << i + 1 << (i % 2 == 0 ? " (L1)" : " (L2)") << ": accuracy " << evals[i].l1.accuracy
                                << ", consistency error " << evals[i].consistency_error << ", l2 " << evals[i].l2);
  UNSCOPED_INFO("rule accuracy " << data.rule_accuracy << ", untrained consistency error " << before.consistency_error);
  for (std::size_t i = 1; i < evals.size(); i += 2) {
    CHECK(evals[i].consistency_error < evals[i - 1].consistency_error);
    CHECK(std::abs(evals[i].l1.accuracy - evals[i - 1].l1.accuracy) <= 0.03);
  }
  CHECK(evals.back().consistency_error < 0.5 * evals.front().consistency_error);
  CHECK(evals.back().l1.accuracy >= 0.9 * data.rule_accuracy);
}

TEST_CASE("farma and genarm: on preferences from a known rule with BT noise, held-out ranking within 90 % of the rule's",
          "[farma][genarm][train][oracle]") {
  const auto data = synthetic_preferences(600, 400, 4, 33);
  SECTION("farma, tabular, step alternation") {
    using tab = rlhf::tabular_token_reward_model<rlhf::backend::eigen>;
    tab m(position_count_config(), position_count_context);
    rt::farma_config cfg;
    cfg.l1.optimizer = {.lr = 0.05, .min_lr = 0.05, .max_grad_norm = 0.0};
    cfg.l1.batch_size = 20;
    cfg.l1.epochs = 3;
    cfg.l1.shuffle = true;
    cfg.l2_every = 2;
    rt::farma_trainer<tab> trainer(cfg);
    CHECK(trainer.planned_steps(600) == 90 + 45);
    trainer.train(m, data.train);
    const auto e = rt::evaluate_farma(m, data.held_out, 64, 0);
    INFO("farma accuracy " << e.l1.accuracy << ", rule " << data.rule_accuracy << ", consistency error "
                           << e.consistency_error);
    CHECK(e.l1.accuracy >= 0.9 * data.rule_accuracy);
  }
  SECTION("genarm, tabular LM") {
    using lm = rlhf::tabular_lm<rlhf::backend::eigen>;
    lm m(position_count_config(), position_count_context);
    rt::genarm_config cfg;
    cfg.reward.optimizer = {.lr = 0.05, .min_lr = 0.05, .max_grad_norm = 0.0};
    cfg.reward.batch_size = 20;
    cfg.reward.epochs = 3;
    cfg.reward.shuffle = true;
    rt::genarm_trainer<lm> trainer(cfg);
    trainer.train(m, data.train);
    const auto e = rt::evaluate_genarm(m, data.held_out, 64, 0);
    INFO("genarm accuracy " << e.accuracy << ", rule " << data.rule_accuracy);
    CHECK(e.accuracy >= 0.9 * data.rule_accuracy);
  }
  SECTION("farma and genarm, tiny transformer") {
    const rlhf::gpt2_config g{.vocab_size = 6, .n_positions = 8, .n_embd = 16, .n_layer = 1, .n_head = 2};
    rlhf::transformer<rlhf::backend::eigen, rlhf::token_reward_head> f(g, 1);
    rt::farma_config fc;
    fc.l1.optimizer = {.lr = 0.01, .min_lr = 0.001};
    fc.l1.batch_size = 16;
    fc.l1.epochs = 2;
    fc.l1.shuffle = true;
    fc.l2_every = 2;
    rt::farma_trainer<decltype(f)> ft(fc);
    ft.train(f, data.train);
    const auto ef = rt::evaluate_farma(f, data.held_out, 64, 0);
    rlhf::transformer<rlhf::backend::eigen, rlhf::lm_head> a(g, 1);
    rt::genarm_config gc;
    gc.reward = fc.l1;
    rt::genarm_trainer<decltype(a)> gt(gc);
    gt.train(a, data.train);
    const auto ea = rt::evaluate_genarm(a, data.held_out, 64, 0);
    INFO("transformer: farma accuracy " << ef.l1.accuracy << ", genarm accuracy " << ea.accuracy << ", rule "
                                        << data.rule_accuracy);
    CHECK(ef.l1.accuracy >= 0.9 * data.rule_accuracy);
    CHECK(ea.accuracy >= 0.9 * data.rule_accuracy);
  }
}

TEST_CASE("farma: options are checked by their CLI names", "[farma][train][errors]") {
  using tab = rlhf::tabular_token_reward_model<rlhf::backend::eigen>;
  rt::farma_config c;
  c.l2_every = 0;
  CHECK_THROWS_WITH(rt::farma_trainer<tab>(c), Catch::Contains("--l2-every"));
  c = {};
  c.rounds = 0;
  CHECK_THROWS_WITH(rt::farma_trainer<tab>(c), Catch::Contains("--rounds"));
  c = {};
  c.alternation = rt::farma_alternation::epoch;
  c.l1.steps = 5;
  CHECK_THROWS_WITH(rt::farma_trainer<tab>(c), Catch::Contains("--steps"));
  CHECK_THROWS_AS(rt::parse_farma_alternation("both"), rlhf::invalid_argument);
  CHECK(rt::parse_farma_alternation("epoch") == rt::farma_alternation::epoch);
  tab m({.vocab_size = 6});
  rt::farma_trainer<tab> t({});
  CHECK_THROWS_WITH(t.train(m, std::vector<preference_example>{{{0}, {1}, {1}}}), Catch::Contains("record 1"));
  CHECK_THROWS_WITH(t.train(m, std::vector<preference_example>{}), Catch::Contains("empty"));
  // The step alternation: l2_every L1 steps, then one L2 step; leftover L1 steps at the end.
  rt::farma_config s;
  s.l1.batch_size = 1;
  s.l1.steps = 5;
  s.l2_every = 2;
  rt::farma_trainer<tab> st(s);
  std::vector<int> phases;
  for (index_t i = 0; i < st.planned_steps(10); ++i) phases.push_back(st.plan(i, 10).phase);
  CHECK(phases == std::vector<int>{1, 1, 2, 1, 1, 2, 1});
}
