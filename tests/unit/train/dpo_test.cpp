// SPDX-License-Identifier: MIT
// The DPO-family trainer (train/dpo.hpp): the gradient of every preference loss × divergence
// against finite differences (tabular model and tiny transformer, double); hand-computed cases;
// k = 2 rankings equal pairs; precomputed reference log-probs equal the on-the-fly reference;
// bad input refused; every backend gives the same step.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/model/response_log_probs.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/train/dpo.hpp"
#include "support/backends.hpp"
#include "support/gradcheck.hpp"
#include "support/train_fixtures.hpp"

namespace {

using rlhf::index_t;
using rlhf::token_id;
using rlhf::data::preference_example;
using rlhf::data::ranking_example;
namespace rt = rlhf::train;
using rlhf::test::grads_of;
using rlhf::test::params_of;
using rlhf::test::set_params;

using tab_d = rlhf::tabular_lm<rlhf::backend::eigen, double>;
using tf_d = rlhf::transformer<rlhf::backend::eigen, rlhf::lm_head, double>;
using any_dpo = rt::dpo_trainer<tab_d, rlhf::any_preference_loss, rlhf::any_divergence>;

const char* const loss_names[] = {"sigmoid", "hinge", "ipo", "conservative", "robust"};
const char* const divergence_names[] = {"reverse_kl", "forward_kl", "js", "alpha:0.5"};

rt::dpo_config fd_config(bool length_normalised = false) {
  return {.optimizer = {.lr = 0.1}, .batch_size = 2, .beta = 0.7, .length_normalised = length_normalised};
}

/// The trainer's gradient equals central differences of its evaluate() loss (the inference path).
template <class Trainer, class Model, class Records, class... Ref>
void check_gradient(Trainer& trainer, Model& m, const Records& records, std::size_t stride, Ref&... ref) {
  auto x = params_of(m);
  m.zero_grad();
  const auto out = trainer.accumulate(m, records, ref...);
  const auto analytic = grads_of(m);
  const auto eval = trainer.evaluate(m, records, ref...);
  CHECK(eval.loss == Approx(out.loss).epsilon(1e-12));
  CHECK(eval.pairs == out.tokens);
  const auto f = [&] {
    set_params(m, x);
    return trainer.evaluate(m, records, ref...).loss;
  };
  std::vector<double> want, got;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (i % stride != 0 && i + 8 < x.size()) continue;
    want.push_back(rlhf::test::numerical_partial(f, std::span<double>(x), i));
    got.push_back(analytic[i]);
  }
  set_params(m, x);
  const double err = rlhf::test::relative_error(got, want);
  INFO("relative error " << err << ", loss " << out.loss);
  CHECK(err < 1e-6);
  double norm = 0;
  for (double g : got) norm += g * g;
  CHECK(norm > 0);
}

any_dpo make_trainer(const std::string& loss, const std::string& div, bool length_normalised = false) {
  return any_dpo(fd_config(length_normalised), rlhf::parse_preference_loss(loss, 0.2), rlhf::parse_divergence(div));
}

}  // namespace

TEST_CASE("dpo: the gradient of every loss x divergence matches finite differences (tabular)",
          "[dpo][train][gradcheck]") {
  const auto pairs = rlhf::test::random_pairs(6, 6, 1);
  const auto rankings = rlhf::test::random_rankings(5, 6, 2);
  for (const char* loss : loss_names)
    for (const char* div : divergence_names) {
      SECTION(std::string(loss) + " x " + div) {
        tab_d policy({.vocab_size = 6, .init_std = 0.5}, 3), ref({.vocab_size = 6, .init_std = 0.5}, 4);
        auto trainer = make_trainer(loss, div);
        check_gradient(trainer, policy, pairs, 1, ref);
        check_gradient(trainer, policy, rankings, 1, ref);
      }
    }
  SECTION("length-normalised, precomputed and reference-free") {
    tab_d policy({.vocab_size = 6, .init_std = 0.5}, 3), ref({.vocab_size = 6, .init_std = 0.5}, 4);
    auto trainer = make_trainer("sigmoid", "js", true);
    check_gradient(trainer, policy, pairs, 1, ref);
    const auto pre = rt::compute_reference_log_probs(ref, rankings, 2, 0, 0, true);
    check_gradient(trainer, policy, rankings, 1, pre);
    auto cfg = fd_config();
    cfg.reference_free = true;
    rt::dpo_trainer<tab_d, rlhf::loss::ipo, rlhf::divergences::alpha> free(cfg, {}, rlhf::divergences::alpha(0.3));
    check_gradient(free, policy, pairs, 1);
  }
}

TEST_CASE("dpo: the gradient matches finite differences through the transformer", "[dpo][train][gradcheck][transformer]") {
  const auto pairs = rlhf::test::random_pairs(4, 7, 5);
  const auto rankings = rlhf::test::random_rankings(3, 7, 6);
  const rlhf::gpt2_config cfg{.vocab_size = 7, .n_positions = 10, .n_embd = 8, .n_layer = 1, .n_head = 2};
  tf_d policy(cfg, 7), ref(cfg, 8);
  SECTION("sigmoid x reverse KL (DPO), pairs") {
    rt::dpo_trainer<tf_d> trainer(fd_config());
    check_gradient(trainer, policy, pairs, 3, ref);
  }
  SECTION("robust x alpha, rankings") {
    rt::dpo_trainer<tf_d, rlhf::loss::robust, rlhf::divergences::alpha> trainer(fd_config(), rlhf::loss::robust{0.2},
                                                                               rlhf::divergences::alpha{0.5});
    check_gradient(trainer, policy, rankings, 3, ref);
  }
}

TEST_CASE("dpo: hand-computed cases", "[dpo][train]") {
  const std::vector<preference_example> pairs{{{0}, {1, 2}, {3}}, {{4, 1}, {5}, {2, 2}}};
  tab_d policy({.vocab_size = 6, .init_std = 0.5}, 3);
  const double beta = 0.7;
  SECTION("policy = reference: every margin is 0, the loss L(0), the gradient ∓β L'(0) f''(1) / P per sequence") {
    tab_d ref({.vocab_size = 6, .init_std = 0.5}, 3);
    // u f''(u) at u = 1, the derivative of f'(e^Δ) at Δ = 0: 1 for reverse KL, forward KL and α; ½ for JS.
    const std::pair<const char*, double> divs[] = {{"reverse_kl", 1.0}, {"forward_kl", 1.0}, {"js", 0.5}, {"alpha:0.5", 1.0}};
    for (const char* loss : loss_names)
      for (const auto& [div, f2] : divs) {
        INFO(loss << " x " << div);
        auto trainer = make_trainer(loss, div);
        const auto fn = rlhf::parse_preference_loss(loss, 0.2);
        const double l0 = std::visit([&](const auto& f) { return f.value(0.0, beta); }, fn);
        const double g0 = std::visit([&](const auto& f) { return f.grad(0.0, beta); }, fn);
        const auto m = trainer.evaluate(policy, pairs, ref);
        CHECK(m.loss == Approx(l0).epsilon(1e-12));
        CHECK(m.margin == Approx(0.0).margin(1e-12));
        CHECK(m.accuracy == 0.0);
        // One pair with one-token responses read from table row 0 (context = token 0):
        // ∂/∂θ_0v = β L'(0) f''(1) (1[v = 1] - 1[v = 3]).
        const std::vector<preference_example> one{{{0}, {1}, {3}}};
        policy.zero_grad();
        trainer.accumulate(policy, one, ref);
        const auto g = grads_of(policy);
        CHECK(g[1] == Approx(beta * g0 * f2).margin(1e-12));
        CHECK(g[3] == Approx(-beta * g0 * f2).margin(1e-12));
        CHECK(g[0] == Approx(0.0).margin(1e-12));
      }
  }
  SECTION("reference-free sigmoid: -log σ(β (log π(a_w) - log π(a_l))) averaged") {
    auto cfg = fd_config();
    cfg.reference_free = true;
    rt::dpo_trainer<tab_d> trainer(cfg);
    // A bigram table: token t is predicted from row tokens[t-1].
    const auto table = policy.logits_table();
    const auto seq_logp = [&](const std::vector<token_id>& prompt, const std::vector<token_id>& resp) {
      double s = 0;
      token_id prev = prompt.back();
      for (token_id t : resp) {
        double lse = -HUGE_VAL;
        for (index_t v = 0; v < 6; ++v) lse = std::max(lse, table(prev, v));
        double z = 0;
        for (index_t v = 0; v < 6; ++v) z += std::exp(table(prev, v) - lse);
        s += table(prev, t) - lse - std::log(z);
        prev = t;
      }
      return s;
    };
    double want = 0;
    for (const auto& p : pairs)
      want += std::log1p(std::exp(-beta * (seq_logp(p.prompt_ids, p.chosen_ids) - seq_logp(p.prompt_ids, p.rejected_ids))));
    want /= 2.0;
    CHECK(trainer.evaluate(policy, pairs).loss == Approx(want).epsilon(1e-12));
  }
}

TEST_CASE("dpo: a ranking of k = 2 is exactly a pair; ties leave pairs out", "[dpo][train]") {
  const auto pairs = rlhf::test::random_pairs(5, 6, 11);
  std::vector<ranking_example> rankings;
  for (const auto& p : pairs) rankings.push_back({p.prompt_ids, {p.chosen_ids, p.rejected_ids}, {}});
  tab_d policy({.vocab_size = 6, .init_std = 0.5}, 3), ref({.vocab_size = 6, .init_std = 0.5}, 4);
  auto trainer = make_trainer("hinge", "forward_kl");
  policy.zero_grad();
  const auto a = trainer.accumulate(policy, pairs, ref);
  const auto ga = grads_of(policy);
  policy.zero_grad();
  const auto b = trainer.accumulate(policy, rankings, ref);
  CHECK(a.loss == b.loss);
  CHECK(ga == grads_of(policy));
  // k = 3 with a tie between 1 and 2: comparisons (0,1), (0,2) only.
  const std::vector<ranking_example> tied{{{0}, {{1}, {2}, {3}}, {{1, 2}}}};
  CHECK(trainer.evaluate(policy, tied, ref).pairs == 2);
}

TEST_CASE("dpo: precomputed reference log-probs equal the on-the-fly reference", "[dpo][train]") {
  const auto rankings = rlhf::test::random_rankings(6, 6, 12);
  tab_d policy({.vocab_size = 6, .init_std = 0.5}, 3), ref({.vocab_size = 6, .init_std = 0.5}, 4);
  auto trainer = make_trainer("sigmoid", "reverse_kl");
  const auto pre = rt::compute_reference_log_probs(ref, rankings, 4);
  policy.zero_grad();
  const auto a = trainer.accumulate(policy, rankings, ref);
  const auto ga = grads_of(policy);
  policy.zero_grad();
  const auto b = trainer.accumulate(policy, rankings, pre);
  CHECK(a.loss == b.loss);
  CHECK(ga == grads_of(policy));
  SECTION("a file that does not match the data is refused") {
    auto fewer = pre;
    fewer.sums.pop_back();
    fewer.tokens.pop_back();
    CHECK_THROWS_WITH(trainer.accumulate(policy, rankings, fewer), Catch::Contains("records but the data has"));
    auto shorter = pre;
    shorter.tokens[2][0] -= 1;
    CHECK_THROWS_WITH(trainer.accumulate(policy, rankings, shorter), Catch::Contains("record 3, response 0"));
    auto nan = pre;
    nan.sums[1][1] = std::nan("");
    CHECK_THROWS_WITH(trainer.accumulate(policy, rankings, nan), Catch::Contains("not finite"));
  }
}

TEST_CASE("dpo: bad settings and data are refused with the fix", "[dpo][train][errors]") {
  tab_d policy({.vocab_size = 6}, 3), ref({.vocab_size = 6}, 4), other({.vocab_size = 7}, 4);
  auto cfg = fd_config();
  cfg.beta = 0.0;
  CHECK_THROWS_WITH(rt::dpo_trainer<tab_d>(cfg), Catch::Contains("--beta must be > 0"));
  cfg.beta = -1.0;
  CHECK_THROWS_AS(rt::dpo_trainer<tab_d>(cfg), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::parse_preference_loss("conservative", 0.5), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::parse_preference_loss("robust", -0.1), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::parse_divergence("alpha:1"), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::parse_divergence("alpha:x"), rlhf::invalid_argument);
  rt::dpo_trainer<tab_d> trainer(fd_config());
  const std::vector<preference_example> same{{{0}, {1, 2}, {1, 2}}};
  CHECK_THROWS_WITH(trainer.accumulate(policy, same, ref), Catch::Contains("same tokens"));
  const std::vector<preference_example> ok{{{0}, {1}, {2}}};
  std::vector<preference_example> records(3, ok[0]);
  CHECK_THROWS_WITH(trainer.train(policy, records, other), Catch::Contains("vocab_size"));
  CHECK_THROWS_WITH(trainer.train(policy, records), Catch::Contains("no reference given"));
  tab_d short_ctx({.vocab_size = 6, .max_positions = 3}, 3);
  const std::vector<preference_example> long_prompt{{{0, 1, 2}, {1}, {2}}};
  CHECK_THROWS_WITH(trainer.accumulate(short_ctx, long_prompt, ref), Catch::Contains("prompt has 3 tokens"));
}

TEMPLATE_LIST_TEST_CASE("dpo: every backend takes the same step", "[dpo][train][backends]", rlhf::test::backends) {
  using model_t = rlhf::tabular_lm<TestType>;
  using eigen_t = rlhf::tabular_lm<rlhf::backend::eigen>;
  const auto rankings = rlhf::test::random_rankings(6, 6, 13);
  model_t policy({.vocab_size = 6, .init_std = 0.5}, 3), ref({.vocab_size = 6, .init_std = 0.5}, 4);
  eigen_t policy_e({.vocab_size = 6, .init_std = 0.5}, 3), ref_e({.vocab_size = 6, .init_std = 0.5}, 4);
  rt::dpo_trainer<model_t, rlhf::loss::ipo, rlhf::divergences::js> trainer({.optimizer = {.lr = 0.05}, .steps = 3, .batch_size = 2});
  rt::dpo_trainer<eigen_t, rlhf::loss::ipo, rlhf::divergences::js> trainer_e({.optimizer = {.lr = 0.05}, .steps = 3, .batch_size = 2});
  const auto a = trainer.train(policy, rankings, ref);
  const auto b = trainer_e.train(policy_e, rankings, ref_e);
  CHECK(a.last_loss == Approx(b.last_loss).epsilon(1e-5));
  const auto pa = params_of(policy), pb = params_of(policy_e);
  CHECK(rlhf::test::relative_error(pa, pb) < 1e-5);
}
