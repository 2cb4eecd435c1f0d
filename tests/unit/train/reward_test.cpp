// SPDX-License-Identifier: MIT
// The sequence reward-model trainer (train/reward.hpp): the gradient of the full loss (every
// preference loss, margins, centring) against finite differences through a tabular model and a
// tiny transformer; k = 2 rankings equal pairs exactly; ties change the normaliser; the
// Bradley–Terry oracle recovers a known reward; bad records are refused by number; resume is
// bit-identical.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "../io/temp_dir.hpp"
#include "rlhf/backend.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/objective/pairwise_loss.hpp"
#include "rlhf/train/reward.hpp"
#include "support/gradcheck.hpp"
#include "support/train_fixtures.hpp"

namespace {

using rlhf::token_id;
using rlhf::data::preference_example;
using rlhf::data::ranking_example;
namespace rt = rlhf::train;

/// A preference record with its own margin (TRL's margin column).
struct margin_pair {
  std::vector<token_id> prompt_ids, chosen_ids, rejected_ids;
  double margin = 0.0;
};
static_assert(rt::preference_record<margin_pair> && rt::has_record_margin<margin_pair>);
static_assert(rt::preference_record<preference_example> && !rt::has_record_margin<preference_example>);
static_assert(rt::ranking_record<ranking_example> && !rt::preference_record<ranking_example>);

using rlhf::test::grads_of;
using rlhf::test::params_of;
using rlhf::test::random_rankings;
using rlhf::test::set_params;

/// The shared pairs (prompts of 1-3 tokens, responses of 1-4) with a random per-record margin.
std::vector<margin_pair> random_pairs(std::size_t n, rlhf::index_t v, std::uint64_t seed) {
  return rlhf::test::random_pairs<margin_pair>(n, v, seed, {.random_margin = true});
}

const char* const loss_names[] = {"sigmoid", "hinge", "ipo", "conservative", "robust"};

rt::reward_config fd_config(const std::string& loss) {
  return {.optimizer = {.lr = 0.1},
          .batch_size = 2,  // several micro-batches: the normaliser is the whole batch's
          .loss = loss,
          .margin = 0.3,
          .center = 0.05,
          .label_smoothing = 0.2,
          .beta = 2.0};
}

/// The trainer's gradient of the full loss equals central differences of evaluate_reward's loss
/// (the inference path), and the two paths agree on the loss.
/// Every `stride`-th parameter is checked (all of them with stride 1), and always the last 8.
template <class Model, class Records>
void check_gradient(Model& m, const std::string& loss, const Records& records, std::size_t stride = 1) {
  const auto cfg = fd_config(loss);
  rt::reward_trainer<Model> trainer(cfg);
  auto x = params_of(m);
  m.zero_grad();
  const auto out = trainer.accumulate(m, records);
  const auto analytic = grads_of(m);
  const auto eval = rt::evaluate_reward(m, records, 3, 0, trainer.objective());
  CHECK(eval.loss == Approx(out.loss).epsilon(1e-12));
  CHECK(eval.pairs == out.tokens);
  const auto f = [&] {
    set_params(m, x);
    return rt::evaluate_reward(m, records, 3, 0, trainer.objective()).loss;
  };
  std::vector<double> want, got;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (i % stride != 0 && i + 8 < x.size()) continue;
    want.push_back(rlhf::test::numerical_partial(f, std::span<double>(x), i));
    got.push_back(analytic[i]);
  }
  set_params(m, x);
  const double err = rlhf::test::relative_error(got, want);
  INFO("loss " << loss << ": relative error " << err << ", loss " << out.loss);
  CHECK(err < 1e-6);
  double norm = 0;
  for (double g : got) norm += g * g;
  CHECK(norm > 0);
}

using tab_d = rlhf::tabular_value_model<rlhf::backend::eigen, double>;
using tab_f = rlhf::tabular_value_model<rlhf::backend::eigen>;
using tf_d = rlhf::transformer<rlhf::backend::eigen, rlhf::scalar_head, double>;

}  // namespace

TEST_CASE("reward: the gradient of the full loss matches finite differences (tabular, every loss)",
          "[reward][train][gradcheck]") {
  const auto pairs = random_pairs(7, 6, 1);
  const auto rankings = random_rankings(6, 6, 2);
  for (const char* loss : loss_names) {
    SECTION(std::string("pairs with record margins, ") + loss) {
      tab_d m({.vocab_size = 6, .init_std = 0.7}, 3);
      check_gradient(m, loss, pairs);
    }
    SECTION(std::string("rankings with ties, ") + loss) {
      tab_d m({.vocab_size = 6, .init_std = 0.7}, 4);
      check_gradient(m, loss, rankings);
    }
  }
}

TEST_CASE("reward: the gradient of the full loss matches finite differences (transformer, every loss)",
          "[reward][train][gradcheck][transformer]") {
  const auto pairs = random_pairs(5, 7, 5);
  const auto rankings = random_rankings(4, 7, 6);
  const rlhf::gpt2_config cfg{.vocab_size = 7, .n_positions = 10, .n_embd = 8, .n_layer = 1, .n_head = 2};
  for (const char* loss : loss_names) {
    SECTION(std::string("pairs, ") + loss) {
      tf_d m(cfg, 7);
      check_gradient(m, loss, pairs, 2);
    }
    SECTION(std::string("rankings, ") + loss) {
      tf_d m(cfg, 8);
      check_gradient(m, loss, rankings, 2);
    }
  }
}

TEST_CASE("reward: a ranking of k = 2 is exactly the pairwise loss; both match objective/pairwise_loss",
          "[reward][train]") {
  const auto with_margin = random_pairs(9, 6, 11);
  std::vector<preference_example> pairs;
  std::vector<ranking_example> rankings;
  for (const auto& p : with_margin) {
    pairs.push_back({p.prompt_ids, p.chosen_ids, p.rejected_ids});
    rankings.push_back({p.prompt_ids, {p.chosen_ids, p.rejected_ids}, {}});
  }
  const rt::reward_config cfg{.batch_size = 4, .margin = 0.25, .center = 0.1};
  SECTION("tabular, double") {
    tab_d a({.vocab_size = 6, .init_std = 0.8}, 1), b({.vocab_size = 6, .init_std = 0.8}, 1);
    rt::reward_trainer<tab_d> trainer(cfg);
    a.zero_grad();
    b.zero_grad();
    const auto pa = trainer.accumulate(a, pairs), rb = trainer.accumulate(b, rankings);
    CHECK(pa.loss == rb.loss);
    CHECK(pa.tokens == 9);
    CHECK(rb.tokens == 9);
    CHECK(grads_of(a) == grads_of(b));
    CHECK(pa.metrics == rb.metrics);
    // Against the objective module's batch loss on the model's sequence rewards.
    const auto table = a.logits_table();
    std::vector<double> rc, rr;
    for (const auto& p : pairs) {
      rc.push_back(table(static_cast<std::size_t>(p.chosen_ids.back()), 0));
      rr.push_back(table(static_cast<std::size_t>(p.rejected_ids.back()), 0));
    }
    const auto ref = rlhf::pairwise_loss(rc, rr, rlhf::loss::sigmoid{0.25}, {.center_coef = 0.1});
    CHECK(pa.loss == Approx(ref.loss).epsilon(1e-13));
    CHECK(pa.metrics.at("accuracy").get<double>() == Approx(ref.accuracy));
    CHECK(pa.metrics.at("rewards/margins").get<double>() == Approx(ref.mean_margin));
  }
  SECTION("transformer, float") {
    using tf = rlhf::transformer<rlhf::backend::eigen, rlhf::scalar_head>;
    const rlhf::gpt2_config g{.vocab_size = 6, .n_positions = 12, .n_embd = 8, .n_layer = 1, .n_head = 2};
    tf a(g, 3), b(g, 3);
    rt::reward_trainer<tf> trainer(cfg);
    a.zero_grad();
    b.zero_grad();
    const auto pa = trainer.accumulate(a, pairs), rb = trainer.accumulate(b, rankings);
    CHECK(pa.loss == rb.loss);
    CHECK(grads_of(a) == grads_of(b));
  }
}

TEST_CASE("reward: ties are skipped and the normaliser counts the pairs used (hand-computed)", "[reward][train]") {
  // Bigram table: the reward of a one-token response is table[token].
  const std::vector<double> r{0.0, 1.0, -0.5, 0.3, 2.0, -1.2};
  tab_d m({.vocab_size = 6});
  xt::xtensor<double, 2> table = xt::zeros<double>({6, 1});
  for (std::size_t i = 0; i < r.size(); ++i) table(i, 0) = r[i];
  m.set_logits_table(table);
  const auto nll = [](double h) { return std::log1p(std::exp(-h)); };  // -log σ(h)
  rt::reward_trainer<tab_d> trainer({.batch_size = 1});

  // A: 4 ≻ 1 = 3 (tie of responses 1 and 2): pairs (4,1), (4,3).  B: 1 ≻ 3 ≻ 4: three pairs.
  const std::vector<ranking_example> data{{{0}, {{4}, {1}, {3}}, {{1, 2}}}, {{0}, {{1}, {3}, {4}}, {}}};
  m.zero_grad();
  const auto out = trainer.accumulate(m, data);
  CHECK(out.tokens == 5);
  const double h[] = {2.0 - 1.0, 2.0 - 0.3, 1.0 - 0.3, 1.0 - 2.0, 0.3 - 2.0};
  double want = 0;
  for (double x : h) want += nll(x);
  CHECK(out.loss == Approx(want / 5).epsilon(1e-14));
  CHECK(out.metrics.at("accuracy").get<double>() == Approx(3.0 / 5));
  CHECK(out.metrics.at("rewards/chosen").get<double>() == Approx((2.0 + 2.0 + 1.0 + 1.0 + 0.3) / 5));
  CHECK(out.metrics.at("rewards/rejected").get<double>() == Approx((1.0 + 0.3 + 0.3 + 2.0 + 2.0) / 5));
  CHECK(out.metrics.at("rewards/margins").get<double>() == Approx((1.0 + 1.7 + 0.7 - 1.0 - 1.7) / 5));
  // Not a per-record mean (which would be (ℓA/2 + ℓB/3) / 2): every pair weighs the same.
  CHECK(out.loss != Approx(((nll(h[0]) + nll(h[1])) / 2 + (nll(h[2]) + nll(h[3]) + nll(h[4])) / 3) / 2));
  // ∂L/∂r(4) by hand: A's two pairs pull it up, B's two pull it down; 1/5 each.
  const auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
  const double d4 = (-sig(-h[0]) - sig(-h[1]) + sig(-h[3]) + sig(-h[4])) / 5;
  CHECK(grads_of(m)[4] == Approx(d4).epsilon(1e-12));

  // Ties are transitive: 4 = 1 = 3 ≻ 2 leaves the three pairs with response 3 only.
  const std::vector<ranking_example> chain{{{0}, {{4}, {1}, {3}, {2}}, {{0, 1}, {2, 1}}}};
  const auto c = trainer.accumulate(m, chain);
  CHECK(c.tokens == 3);
  CHECK(c.loss == Approx((nll(2.0 + 0.5) + nll(1.0 + 0.5) + nll(0.3 + 0.5)) / 3).epsilon(1e-14));
}

TEST_CASE("reward: gradient accumulation over micro-batches equals the big batch", "[reward][train]") {
  const auto rankings = random_rankings(10, 6, 21);
  tab_d a({.vocab_size = 6, .init_std = 0.5}, 2), b({.vocab_size = 6, .init_std = 0.5}, 2);
  rt::reward_trainer<tab_d> small({.batch_size = 1, .center = 0.02}), big({.batch_size = 10, .center = 0.02});
  a.zero_grad();
  b.zero_grad();
  const auto sa = small.accumulate(a, rankings), sb = big.accumulate(b, rankings);
  CHECK(sa.loss == Approx(sb.loss).epsilon(1e-13));
  CHECK(sa.tokens == sb.tokens);
  CHECK(rlhf::test::relative_error(grads_of(a), grads_of(b)) < 1e-13);
}

TEST_CASE("reward: the Bradley-Terry oracle recovers a known reward up to a per-prompt constant",
          "[reward][train][oracle]") {
  // Bandit: prompt s in {0, 1, 2} (the first token), one-token responses a in {3, ..., 6}. The
  // value table has one row per (s, a) state, read after the response token. True reward
  // r(s, a) = log w(s, a): with w(a) copies of a ≻ b and w(b) copies of b ≻ a for every pair, the
  // data hold EXACTLY the Bradley–Terry probabilities P(a ≻ b) = w(a) / (w(a) + w(b)) =
  // σ(r(a) - r(b)), so the minimiser of the mean sigmoid loss is r + c(s).
  constexpr rlhf::index_t V = 7, S = 3, A = 4;
  constexpr token_id A0 = 3;
  const int w[S][A] = {{1, 2, 3, 5}, {4, 1, 2, 1}, {2, 6, 1, 3}};
  const auto ctx = [](std::span<const token_id> p) -> rlhf::index_t {
    return p.size() == 1 ? p[0] : V + p[0] * V + p[1];
  };
  tab_d m({.vocab_size = V, .context = rlhf::tabular_context::custom, .n_contexts = V + V * V, .max_positions = 4},
          ctx);
  std::vector<preference_example> data, unique_pairs;
  for (token_id s = 0; s < S; ++s)
    for (token_id a = 0; a < A; ++a)
      for (token_id b = a + 1; b < A; ++b) {
        for (int i = 0; i < w[s][a]; ++i) data.push_back({{s}, {A0 + a}, {A0 + b}});
        for (int i = 0; i < w[s][b]; ++i) data.push_back({{s}, {A0 + b}, {A0 + a}});
        const bool a_better = w[s][a] > w[s][b];
        if (w[s][a] != w[s][b]) unique_pairs.push_back({{s}, {A0 + (a_better ? a : b)}, {A0 + (a_better ? b : a)}});
      }
  REQUIRE(data.size() == 93);
  rt::reward_trainer<tab_d> trainer({.optimizer = {.lr = 0.1, .min_lr = 0.0, .max_grad_norm = 0.0},
                                     .steps = 400,
                                     .batch_size = static_cast<rlhf::index_t>(data.size())});
  const auto run = trainer.train(m, data);
  const auto table = m.logits_table();
  double max_err = 0;
  for (token_id s = 0; s < S; ++s) {
    double mean_hat = 0, mean_true = 0;
    for (token_id a = 0; a < A; ++a) {
      mean_hat += table(static_cast<std::size_t>(ctx(std::vector<token_id>{s, A0 + a})), 0) / A;
      mean_true += std::log(w[s][a]) / A;
    }
    for (token_id a = 0; a < A; ++a) {
      const double hat = table(static_cast<std::size_t>(ctx(std::vector<token_id>{s, A0 + a})), 0) - mean_hat;
      max_err = std::max(max_err, std::abs(hat - (std::log(w[s][a]) - mean_true)));
    }
  }
  INFO("first loss " << run.first_loss << ", last loss " << run.last_loss);
  CHECK(max_err <= 0.05);
  CHECK(max_err <= 1e-3);  // what it measures: the exact data make the optimum exact
  // Held-out metrics through score(): every strict preference is ranked right, and the mean
  // margin is the true mean log-weight gap.
  const auto e = rt::evaluate_reward(m, unique_pairs, 8, 0);
  double gap = 0;
  for (const auto& p : unique_pairs)
    gap += std::log(w[p.prompt_ids[0]][p.chosen_ids[0] - A0]) - std::log(w[p.prompt_ids[0]][p.rejected_ids[0] - A0]);
  CHECK(e.accuracy == 1.0);
  CHECK(e.mean_margin == Approx(gap / static_cast<double>(unique_pairs.size())).margin(0.01));
  CHECK(to_json(e).contains("rewards/margins"));
}

TEST_CASE("reward: bad records are refused naming the record (1-based) and the fix", "[reward][train][errors]") {
  tab_f m({.vocab_size = 6, .max_positions = 6});
  rt::reward_trainer<tab_f> trainer({.steps = 1});
  const auto refused = [&](const auto& data, std::initializer_list<const char*> parts) {
    try {
      trainer.train(m, data);
      FAIL("accepted");
    } catch (const rlhf::invalid_argument& e) {
      const std::string what = e.what();
      INFO(what);
      for (const char* p : parts) CHECK(what.find(p) != std::string::npos);
    }
  };
  const ranking_example good{{0}, {{1}, {2}}, {}};
  refused(std::vector<ranking_example>{good, {{0}, {{1}}, {}}}, {"record 2", "at least 2"});
  refused(std::vector<ranking_example>{{{0}, {{1}, {2}, {3}}, {{0, 3}}}}, {"record 1", "tie (0, 3)", "[0, 3)"});
  refused(std::vector<ranking_example>{good, good, {{0}, {{1}, {2}, {3}}, {{0, 2}}}},
          {"record 3", "contradicts the ranking", "response 1"});
  refused(std::vector<ranking_example>{{{0}, {{1}, {2}}, {{1, 1}}}}, {"record 1", "itself"});
  refused(std::vector<ranking_example>{{{0}, {{1}, {2}}, {{0, 1}}}}, {"record 1", "no preference", "drop"});
  refused(std::vector<ranking_example>{{{0}, {{1}, {}}, {}}}, {"record 1", "response 1 is empty"});
  refused(std::vector<ranking_example>{{{0}, {{1}, {3}, {1}}, {}}}, {"record 1", "responses 0 and 2", "same tokens"});
  const preference_example ok{{0}, {1}, {2}};
  refused(std::vector<preference_example>{ok, {{0}, {}, {2}}}, {"record 2", "empty chosen"});
  refused(std::vector<preference_example>{{{0}, {1}, {}}}, {"record 1", "empty rejected"});
  refused(std::vector<preference_example>{ok, ok, ok, {{0}, {1, 2}, {1, 2}}}, {"record 4", "same tokens", "drop"});
  refused(std::vector<preference_example>{{{0, 1, 2, 3, 4, 5}, {1}, {2}}},
          {"record 1", "prompt has 6 tokens", "at most 6", "--max-length"});
  refused(std::vector<preference_example>{ok, {{0}, {9}, {2}}}, {"record 2", "chosen token id 9", "vocabulary"});
  refused(std::vector<preference_example>{{{}, {1}, {2}}}, {"record 1", "empty prompt"});
  refused(std::vector<preference_example>{}, {"empty"});
  // Options, by their CLI names.
  CHECK_THROWS_WITH(rt::reward_trainer<tab_f>({.loss = "dpo"}), Catch::Contains("--loss") && Catch::Contains("ipo"));
  CHECK_THROWS_WITH(rt::reward_trainer<tab_f>({.center = -1}), Catch::Contains("--center"));
  CHECK_THROWS_WITH(rt::reward_trainer<tab_f>({.margin = NAN}), Catch::Contains("--margin"));
  CHECK_THROWS_WITH(rt::reward_trainer<tab_f>({.label_smoothing = 0.5}), Catch::Contains("--label-smoothing"));
  CHECK_THROWS_WITH(rt::reward_trainer<tab_f>({.beta = 0}), Catch::Contains("--beta"));
  CHECK_THROWS_WITH(rt::reward_trainer<tab_f>({.batch_size = 0}), Catch::Contains("--batch-size"));
  CHECK_THROWS_AS(rt::reward_trainer<tab_f>({.loss = "dpo"}), rlhf::invalid_argument);
}

TEST_CASE("reward: resumed from a checkpoint is bit-identical to an uninterrupted run", "[reward][train][resume]") {
  const auto data = random_pairs(23, 6, 31);
  const rt::reward_config cfg{
      .optimizer = {.lr = 0.05, .warmup = 2, .min_lr = 0.005, .weight_decay = 0.01, .max_grad_norm = 0.5,
                    .grad_accum = 2},
      .epochs = 3,
      .batch_size = 3,
      .seed = 11,
      .shuffle = true,
      .margin = 0.1,
      .center = 0.01};
  const auto make = [] { return tab_f({.vocab_size = 6, .init_std = 0.3}, 2); };
  rlhf::test::temp_dir dir;
  constexpr rlhf::index_t split = 5;
  std::vector<double> straight_losses, resumed_losses;
  std::vector<nlohmann::json> metrics;
  tab_f straight = make();
  rt::reward_trainer<tab_f> a(cfg, {.on_step = [&](const auto& s) {
                                  straight_losses.push_back(s.loss);
                                  metrics.push_back(s.metrics);
                                }});
  a.train(straight, data);
  REQUIRE(straight_losses.size() == 12);  // 3 epochs × ceil(23 / 6)
  for (const char* key : {"accuracy", "rewards/margins", "rewards/chosen", "rewards/rejected", "epoch"})
    CHECK(metrics.front().contains(key));

  tab_f early = make();
  rt::reward_trainer<tab_f> c(cfg, {.save_every = split, .checkpoint_dir = dir.path(),
                                    .on_step = [&](const auto& s) { resumed_losses.push_back(s.loss); }});
  c.train(early, data);
  resumed_losses.resize(static_cast<std::size_t>(split));
  const auto ckpt = dir.path() / ("checkpoint-" + std::to_string(split));
  REQUIRE(std::filesystem::exists(ckpt / "trainer_state.json"));

  tab_f later = make();
  rt::reward_trainer<tab_f> d(cfg, {.on_step = [&](const auto& s) { resumed_losses.push_back(s.loss); }});
  const auto state = d.resume(later, ckpt);
  CHECK(state.at("records") == data.size());
  const auto r = d.train(later, data);
  CHECK(r.first_step == split);
  CHECK(resumed_losses == straight_losses);
  CHECK(params_of(later) == params_of(straight));
  CHECK_THROWS_WITH(d.train(later, random_pairs(5, 6, 1)), Catch::Contains("same data"));
}
