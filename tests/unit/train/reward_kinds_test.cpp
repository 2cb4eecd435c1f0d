// SPDX-License-Identifier: MIT
// The PARGS prefix reward model (train/reward.hpp, reward_config::prefix) and the CD-FUDGE value
// model (train/value.hpp): the value loss against finite differences (double); the prefix
// truncation is seeded, deterministic, batch-size independent and keeps the labels; on synthetic
// text preferences drawn from a known rule with Bradley–Terry noise the sequence and prefix kinds
// rank held-out pairs with >= 90 % of the true rule's accuracy; CD's last-token value tracks the
// reward of held-out completions sampled from π_ref (R² >= 0.8); bad records are refused by number.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "../io/temp_dir.hpp"
#include "rlhf/backend.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/sampling/any_sampler.hpp"
#include "rlhf/train/reward.hpp"
#include "rlhf/train/value.hpp"
#include "support/backends.hpp"
#include "support/gradcheck.hpp"
#include "support/train_fixtures.hpp"

namespace {

using rlhf::index_t;
using rlhf::token_id;
using rlhf::data::preference_example;
using rlhf::data::scored_example;
namespace rt = rlhf::train;

using rlhf::test::grads_of;
using rlhf::test::params_of;
using rlhf::test::random_tokens;
using rlhf::test::set_params;

std::vector<scored_example> random_scored(std::size_t n, index_t v, std::uint64_t seed) {
  const rlhf::counter_rng rng(seed, 9);
  std::uint64_t c = 0;
  std::vector<scored_example> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back({random_tokens(rng, c, 1 + static_cast<std::size_t>(rng.uniform(c++) * 3), v),
                   random_tokens(rng, c, 1 + static_cast<std::size_t>(rng.uniform(c++) * 4), v),
                   2.0 * rng.uniform(c++) - 1.0});
  return out;
}

/// Pairs with prompts of 1-2 tokens and responses of 1-6 tokens (counter stream 10).
std::vector<preference_example> random_pairs(std::size_t n, index_t v, std::uint64_t seed) {
  return rlhf::test::random_pairs(n, v, seed, {.stream = 10, .max_prompt = 2, .max_response = 6});
}

/// The value trainer's gradient of the loss equals central differences of evaluate_value's loss.
template <class Model>
void check_value_gradient(Model& m, const std::vector<scored_example>& records, std::size_t stride) {
  rt::value_trainer<Model> trainer({.batch_size = 2});  // several micro-batches: N is the whole batch's
  auto x = params_of(m);
  m.zero_grad();
  const auto out = trainer.accumulate(m, records);
  const auto analytic = grads_of(m);
  const auto eval = rt::evaluate_value(m, records, 3, 0);
  CHECK(eval.loss == Approx(out.loss).epsilon(1e-12));
  CHECK(eval.tokens == out.tokens);
  const auto f = [&] {
    set_params(m, x);
    return rt::evaluate_value(m, records, 3, 0).loss;
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

using tab_d = rlhf::tabular_value_model<rlhf::backend::eigen, double>;
using tab_f = rlhf::tabular_value_model<rlhf::backend::eigen>;
using tf_d = rlhf::transformer<rlhf::backend::eigen, rlhf::scalar_head, double>;

// ---- synthetic text task ----
// V = 8. Prompts [0, x], x in {4..7}; responses of 8 tokens from {1..7}; the true reward is the
// number of "good" tokens (ids 1, 2, 3) in the response.
constexpr index_t task_vocab = 8;
constexpr std::size_t response_len = 8;
double true_reward(std::span<const token_id> response) {
  return static_cast<double>(std::ranges::count_if(response, [](token_id t) { return t >= 1 && t <= 3; }));
}
std::vector<token_id> task_prompt(const rlhf::counter_rng& rng, std::uint64_t& c) {
  return {0, static_cast<token_id>(4 + rng.uniform(c++) * 4)};
}
std::vector<token_id> task_response(const rlhf::counter_rng& rng, std::uint64_t& c) {
  std::vector<token_id> r;
  for (std::size_t i = 0; i < response_len; ++i) r.push_back(static_cast<token_id>(1 + rng.uniform(c++) * 7));
  return r;
}

struct noisy_pairs {
  std::vector<preference_example> pairs;  ///< chosen = the side the noisy label prefers
  double rule_accuracy = 0;               ///< fraction of labels the true rule agrees with
};
/// Pairs of responses with different true rewards, labelled by Bradley–Terry: the first is
/// preferred with probability σ(r(a) - r(b)).
noisy_pairs task_pairs(std::size_t n, std::uint64_t seed) {
  const rlhf::counter_rng rng(seed, 11);
  std::uint64_t c = 0;
  noisy_pairs out;
  double agree = 0;
  while (out.pairs.size() < n) {
    auto p = task_prompt(rng, c);
    auto a = task_response(rng, c), b = task_response(rng, c);
    const double ra = true_reward(a), rb = true_reward(b);
    if (ra == rb) continue;
    const bool a_wins = rng.uniform(c++) < 1 / (1 + std::exp(-(ra - rb)));
    agree += (a_wins == (ra > rb)) ? 1 : 0;
    if (a_wins) out.pairs.push_back({std::move(p), std::move(a), std::move(b)});
    else out.pairs.push_back({std::move(p), std::move(b), std::move(a)});
  }
  out.rule_accuracy = agree / static_cast<double>(n);
  return out;
}

constexpr rlhf::gpt2_config task_model{.vocab_size = task_vocab, .n_positions = 16, .n_embd = 16, .n_layer = 1,
                                       .n_head = 2};

/// The true rule's accuracy on the held-out labels with every response cut to ceil(f·8) tokens.
double rule_prefix_accuracy(const std::vector<preference_example>& pairs, double f) {
  const auto keep = static_cast<std::size_t>(std::ceil(f * static_cast<double>(response_len) - 1e-9));
  double right = 0;
  for (const auto& p : pairs)
    right += true_reward(std::span(p.chosen_ids).first(keep)) > true_reward(std::span(p.rejected_ids).first(keep));
  return right / static_cast<double>(pairs.size());
}

}  // namespace

// ---- CD value model: the loss ----

TEST_CASE("value: the gradient of the CD-FUDGE loss matches finite differences (tabular, double)",
          "[value][train][gradcheck]") {
  const auto records = random_scored(7, 6, 1);
  tab_d m({.vocab_size = 6, .init_std = 0.7}, 3);
  check_value_gradient(m, records, 1);
}

TEST_CASE("value: the gradient of the CD-FUDGE loss matches finite differences (transformer, double)",
          "[value][train][gradcheck][transformer]") {
  const auto records = random_scored(5, 7, 2);
  tf_d m({.vocab_size = 7, .n_positions = 10, .n_embd = 8, .n_layer = 1, .n_head = 2}, 5);
  check_value_gradient(m, records, 2);
}

TEST_CASE("value: the loss is the mean over response tokens of 1/2 (V(s, a^{<=i}) - r)^2 (hand-computed)",
          "[value][train]") {
  // Bigram table: V after token t is table[t].
  const std::vector<double> v{0.5, 1.0, -0.5, 0.25};
  tab_d m({.vocab_size = 4});
  xt::xtensor<double, 2> table = xt::zeros<double>({4, 1});
  for (std::size_t i = 0; i < v.size(); ++i) table(i, 0) = v[i];
  m.set_logits_table(table);
  const std::vector<scored_example> data{{{0}, {1, 2}, 1.0}, {{3, 0}, {3}, -1.0}};
  rt::value_trainer<tab_d> trainer({.batch_size = 1});
  m.zero_grad();
  const auto out = trainer.accumulate(m, data);
  CHECK(out.tokens == 3);
  const double want = (0.5 * 0 * 0 + 0.5 * 1.5 * 1.5 + 0.5 * 1.25 * 1.25) / 3;
  CHECK(out.loss == Approx(want).epsilon(1e-14));
  // Last-token values -0.5 (r = 1) and 0.25 (r = -1): R² = 1 - (1.5² + 1.25²) / 2.
  CHECK(out.metrics.at("r2").get<double>() == Approx(1 - (2.25 + 1.5625) / 2));
  CHECK(out.metrics.at("value/mean").get<double>() == Approx(-0.125));
  const auto g = grads_of(m);
  CHECK(g[1] == Approx(0.0).margin(1e-15));
  CHECK(g[2] == Approx(-1.5 / 3));
  CHECK(g[3] == Approx(1.25 / 3));
  const auto e = rt::evaluate_value(m, data, 8, 0);
  CHECK(e.loss == Approx(want));
  CHECK(to_json(e).contains("r2"));
}

// ---- PARGS prefix truncation ----

TEST_CASE("prefix: the truncation is seeded by (seed, record, epoch), covers [1, shortest] and keeps labels",
          "[reward][prefix][train]") {
  // prefix_length: a pure function in range, varying with the record, the epoch and the seed.
  std::vector<index_t> seen(6, 0);
  for (std::uint64_t r = 0; r < 200; ++r) {
    const auto l = rt::prefix_length(5, r, 0, 5);
    REQUIRE(l >= 1);
    REQUIRE(l <= 5);
    ++seen[static_cast<std::size_t>(l)];
    CHECK(rt::prefix_length(5, r, 0, 5) == l);
  }
  for (index_t l = 1; l <= 5; ++l) CHECK(seen[static_cast<std::size_t>(l)] > 20);
  int differ_epoch = 0, differ_seed = 0;
  for (std::uint64_t r = 0; r < 50; ++r) {
    differ_epoch += rt::prefix_length(5, r, 0, 9) != rt::prefix_length(5, r, 1, 9);
    differ_seed += rt::prefix_length(5, r, 0, 9) != rt::prefix_length(6, r, 0, 9);
  }
  CHECK(differ_epoch > 25);
  CHECK(differ_seed > 25);
  CHECK(rt::prefix_length(1, 0, 0, 1) == 1);
  CHECK_THROWS_AS(rt::prefix_length(1, 0, 0, 0), rlhf::invalid_argument);

  // The prefix trainer's step is the sequence trainer's on the records cut by hand: chosen stays
  // chosen, both sides share one length, and any batch size gives the same cut. (First tokens
  // differ, so no cut makes the two sides equal, which the sequence trainer would refuse.)
  auto pairs = random_pairs(9, 6, 3);
  for (auto& p : pairs)
    if (p.chosen_ids[0] == p.rejected_ids[0]) p.rejected_ids[0] = (p.chosen_ids[0] + 1) % 6;
  const rt::reward_config seq{.batch_size = 2, .seed = 17, .center = 0.05};
  auto pre = seq;
  pre.prefix = true;
  auto pre_big = pre;
  pre_big.batch_size = 9;
  for (index_t epoch : {0, 3}) {
    std::vector<preference_example> cut;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      const auto& p = pairs[i];
      const auto l = static_cast<std::size_t>(
          rt::prefix_length(17, i, static_cast<std::uint64_t>(epoch),
                            static_cast<index_t>(std::min(p.chosen_ids.size(), p.rejected_ids.size()))));
      cut.push_back({p.prompt_ids, {p.chosen_ids.begin(), p.chosen_ids.begin() + static_cast<std::ptrdiff_t>(l)},
                     {p.rejected_ids.begin(), p.rejected_ids.begin() + static_cast<std::ptrdiff_t>(l)}});
    }
    tab_d a({.vocab_size = 6, .init_std = 0.6}, 1), b({.vocab_size = 6, .init_std = 0.6}, 1),
        c({.vocab_size = 6, .init_std = 0.6}, 1);
    a.zero_grad();
    b.zero_grad();
    c.zero_grad();
    const auto got = rt::reward_trainer<tab_d>(pre).accumulate(a, pairs, epoch);
    const auto want = rt::reward_trainer<tab_d>(seq).accumulate(b, cut);
    const auto big = rt::reward_trainer<tab_d>(pre_big).accumulate(c, pairs, epoch);
    CHECK(got.loss == want.loss);
    CHECK(got.metrics == want.metrics);
    CHECK(grads_of(a) == grads_of(b));
    CHECK(big.loss == Approx(got.loss).epsilon(1e-13));
  }
}

TEST_CASE("prefix: a resumed prefix run is bit-identical to an uninterrupted one", "[reward][prefix][train][resume]") {
  const auto data = random_pairs(20, 6, 4);
  const rt::reward_config cfg{.optimizer = {.lr = 0.05, .warmup = 1, .max_grad_norm = 0.5},
                              .epochs = 3,
                              .batch_size = 4,
                              .seed = 9,
                              .shuffle = true,
                              .prefix = true};
  const auto make = [] { return tab_f({.vocab_size = 6, .init_std = 0.3}, 2); };
  rlhf::test::temp_dir dir;
  std::vector<double> straight_losses, resumed_losses;
  tab_f straight = make();
  rt::reward_trainer<tab_f>(cfg, {.on_step = [&](const auto& s) { straight_losses.push_back(s.loss); }})
      .train(straight, data);
  REQUIRE(straight_losses.size() == 15);
  tab_f early = make();
  rt::reward_trainer<tab_f>(cfg, {.save_every = 7, .checkpoint_dir = dir.path(),
                                  .on_step = [&](const auto& s) { resumed_losses.push_back(s.loss); }})
      .train(early, data);
  resumed_losses.resize(7);
  tab_f later = make();
  rt::reward_trainer<tab_f> d(cfg, {.on_step = [&](const auto& s) { resumed_losses.push_back(s.loss); }});
  d.resume(later, dir.path() / "checkpoint-7");
  d.train(later, data);
  CHECK(resumed_losses == straight_losses);
  CHECK(params_of(later) == params_of(straight));
  // The prefixes differ from the full responses: the losses of a sequence run are not these.
  std::vector<double> full;
  auto seq = cfg;
  seq.prefix = false;
  tab_f other = make();
  rt::reward_trainer<tab_f>(seq, {.on_step = [&](const auto& s) { full.push_back(s.loss); }}).train(other, data);
  CHECK(full != straight_losses);
}

// ---- learning: synthetic text preferences ----

TEMPLATE_LIST_TEST_CASE("sequence and prefix reward models rank held-out noisy pairs within 90 % of the true rule",
                        "[reward][prefix][train][transformer][learning]", rlhf::test::backends) {
  using model_t = rlhf::transformer<TestType, rlhf::scalar_head>;
  const auto train = task_pairs(768, 1), held = task_pairs(512, 2);
  for (const bool prefix : {false, true}) {
    model_t m(task_model, 3);
    rt::reward_trainer<model_t> trainer({.optimizer = {.lr = 1e-2, .warmup = 10, .weight_decay = 0.01,
                                                       .max_grad_norm = 1.0},
                                         .steps = prefix ? 300 : 200,
                                         .batch_size = 32,
                                         .seed = 5,
                                         .shuffle = true,
                                         .prefix = prefix});
    const auto run = trainer.train(m, train.pairs);
    const auto e = rt::evaluate_reward(m, held.pairs, 64, 0);
    const auto by_fraction = rt::evaluate_prefix_reward(m, held.pairs, 64, 0);
    INFO((prefix ? "prefix" : "sequence") << ": held-out accuracy " << e.accuracy << " vs the true rule's "
                                          << held.rule_accuracy << " (ratio " << e.accuracy / held.rule_accuracy
                                          << "); by fraction " << to_json(by_fraction).dump() << "; rule by fraction "
                                          << rule_prefix_accuracy(held.pairs, 0.25) << " "
                                          << rule_prefix_accuracy(held.pairs, 0.5) << " "
                                          << rule_prefix_accuracy(held.pairs, 0.75) << "; loss " << run.first_loss
                                          << " -> " << run.last_loss);
    CHECK(e.accuracy >= 0.9 * held.rule_accuracy);
    CHECK(by_fraction.accuracy[3] == Approx(e.accuracy));
    CHECK(by_fraction.pairs == 512);
    if (prefix) {
      // Trained on partial responses, it ranks them: within 90 % of the rule at every fraction.
      for (std::size_t i = 0; i < 3; ++i)
        CHECK(by_fraction.accuracy[i] >= 0.9 * rule_prefix_accuracy(held.pairs, by_fraction.fractions[i]));
    }
    WARN((prefix ? "prefix" : "sequence") << " RM: held-out accuracy " << e.accuracy << ", true rule "
                                          << held.rule_accuracy << ", by fraction " << to_json(by_fraction).dump());
  }
}

// ---- learning: CD value on completions sampled from π_ref ----

TEMPLATE_LIST_TEST_CASE("value: CD's last-token value tracks the reward of held-out sampled completions (R2 >= 0.8)",
                        "[value][train][transformer][learning]", rlhf::test::backends) {
  using model_t = rlhf::transformer<TestType, rlhf::scalar_head>;
  // π_ref: a random bigram table over the 8 tokens with token 0 (the prompt start) never sampled.
  rlhf::tabular_lm<rlhf::backend::eigen> ref({.vocab_size = task_vocab, .init_std = 0.5}, 4);
  const auto prompts = [](std::size_t n, std::uint64_t seed) {
    const rlhf::counter_rng rng(seed, 12);
    std::uint64_t c = 0;
    std::vector<std::vector<token_id>> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(task_prompt(rng, c));
    return out;
  };
  const auto gold = [](std::span<const token_id>, std::span<const token_id> completion) {
    return true_reward(completion);
  };
  const auto sampler = rlhf::sampling::any_sampler::parse("temperature=1.5");
  const rlhf::generate_options gen{.max_new_tokens = static_cast<index_t>(response_len), .seed = 21};
  auto held_gen = gen;
  held_gen.seed = 22;
  const auto train_prompts = prompts(128, 1), held_prompts = prompts(128, 2);
  const auto held = rt::sample_scored(ref, std::span<const std::vector<token_id>>(held_prompts), sampler, held_gen,
                                      gold, 2);
  REQUIRE(held.size() == 256);
  double mean = 0, var = 0;
  for (const auto& h : held) mean += h.reward / 256;
  for (const auto& h : held) var += (h.reward - mean) * (h.reward - mean) / 256;
  REQUIRE(var > 0.5);  // the rewards vary: R² means something

  model_t m(task_model, 5);
  rt::value_trainer<model_t> trainer({.optimizer = {.lr = 1e-2, .warmup = 10, .weight_decay = 0.01,
                                                    .max_grad_norm = 1.0},
                                      .steps = 250,
                                      .batch_size = 32,
                                      .seed = 3,
                                      .shuffle = true});
  const auto before = rt::evaluate_value(m, held, 64, 0);
  const auto run = trainer.train_sampled(m, ref, std::span<const std::vector<token_id>>(train_prompts), sampler, gen,
                                         gold, 4);
  const auto after = rt::evaluate_value(m, held, 64, 0);
  INFO("held-out R2 " << before.r2 << " -> " << after.r2 << ", loss " << before.loss << " -> " << after.loss
                      << ", mean value " << after.mean_value << " vs mean reward " << after.mean_reward
                      << "; train loss " << run.first_loss << " -> " << run.last_loss);
  CHECK(after.r2 >= 0.8);
  CHECK(after.loss < before.loss);
  WARN("CD value: held-out R2 " << after.r2 << " (before " << before.r2 << ")");

  // The trained value model as the reward source of sample_scored: its last-token values.
  const auto rescored = rt::sample_scored(ref, std::span<const std::vector<token_id>>(held_prompts), sampler, held_gen,
                                          m, 2);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(rescored[i].completion_ids == held[i].completion_ids);
    const auto batch = rlhf::data::collate(std::span<const scored_example>(held).subspan(i, 1));
    CHECK(rescored[i].reward == Approx(rlhf::sequence_rewards(m, batch)(0)).epsilon(1e-6));
  }
}

// ---- bad input ----

TEST_CASE("value: bad records are refused naming the record (1-based) and the fix", "[value][train][errors]") {
  tab_f m({.vocab_size = 6, .max_positions = 6});
  rt::value_trainer<tab_f> trainer({.steps = 1});
  const auto refused = [&](const std::vector<scored_example>& data, std::initializer_list<const char*> parts) {
    try {
      trainer.train(m, data);
      FAIL("accepted");
    } catch (const rlhf::invalid_argument& e) {
      const std::string what = e.what();
      INFO(what);
      for (const char* p : parts) CHECK(what.find(p) != std::string::npos);
    }
  };
  const scored_example ok{{0}, {1, 2}, 0.5};
  refused({ok, {{0}, {1}, NAN}}, {"record 2", "reward", "finite"});
  refused({ok, ok, {{0}, {1}, INFINITY}}, {"record 3", "finite"});
  refused({{{0}, {}, 1.0}}, {"record 1", "empty completion"});
  refused({ok, {{0}, {1, 9}, 1.0}}, {"record 2", "completion token id 9", "vocabulary"});
  refused({{{7}, {1}, 1.0}}, {"record 1", "prompt token id 7"});
  refused({ok, {{0, 1, 2, 3, 4, 5}, {1}, 1.0}}, {"record 2", "prompt has 6 tokens", "at most 6", "--max-length"});
  refused({{{}, {1}, 1.0}}, {"record 1", "empty prompt"});
  refused({}, {"empty"});
  CHECK_THROWS_WITH(rt::evaluate_value(m, std::vector<scored_example>{ok, {{0}, {1}, NAN}}, 4, 0),
                    Catch::Contains("record 2"));
  CHECK_THROWS_WITH(rt::value_trainer<tab_f>({.batch_size = 0}), Catch::Contains("--batch-size"));
  CHECK_THROWS_WITH(rt::value_trainer<tab_f>({.max_length = 1}), Catch::Contains("--max-length"));
  // A gold reward that is not finite is a numerical error naming the completion.
  rlhf::tabular_lm<rlhf::backend::eigen> ref({.vocab_size = 6}, 1);
  const std::vector<std::vector<token_id>> prompts{{0}, {1}};
  const auto nan_gold = [](std::span<const token_id> p, std::span<const token_id>) { return p[0] == 1 ? NAN : 1.0; };
  CHECK_THROWS_AS(rt::sample_scored(ref, std::span<const std::vector<token_id>>(prompts),
                                    rlhf::sampling::any_sampler::parse("temperature=1"),
                                    rlhf::generate_options{.max_new_tokens = 2}, nan_gold),
                  rlhf::numerical_error);
  CHECK_THROWS_WITH(rt::sample_scored(ref, std::span<const std::vector<token_id>>(prompts),
                                      rlhf::sampling::any_sampler::parse("temperature=1"),
                                      rlhf::generate_options{.max_new_tokens = 2}, nan_gold),
                    Catch::Contains("completion 1"));
  // A reward model of another vocabulary is refused naming the token.
  tab_f small_rm({.vocab_size = 3});
  CHECK_THROWS_WITH(rt::sample_scored(ref, std::span<const std::vector<token_id>>(std::vector<std::vector<token_id>>{{5}}),
                                      rlhf::sampling::any_sampler::parse("temperature=1"),
                                      rlhf::generate_options{.max_new_tokens = 2}, small_rm),
                    Catch::Contains("vocabulary"));
}

TEST_CASE("prefix: bad records are refused as by the sequence kind, and evaluate_prefix_reward reports 4 fractions",
          "[reward][prefix][train][errors]") {
  tab_f m({.vocab_size = 6, .max_positions = 6});
  rt::reward_trainer<tab_f> trainer({.steps = 1, .prefix = true});
  CHECK_THROWS_WITH(trainer.train(m, std::vector<preference_example>{{{0}, {1}, {2}}, {{0}, {}, {2}}}),
                    Catch::Contains("record 2") && Catch::Contains("empty chosen"));
  CHECK_THROWS_WITH(trainer.train(m, std::vector<preference_example>{{{0, 1, 2, 3, 4, 5}, {1}, {2}}}),
                    Catch::Contains("record 1") && Catch::Contains("--max-length"));
  CHECK_THROWS_WITH(rt::evaluate_prefix_reward(m, std::vector<preference_example>{{{0}, {9}, {2}}}, 4, 0),
                    Catch::Contains("record 1") && Catch::Contains("vocabulary"));
  const auto j = to_json(rt::evaluate_prefix_reward(m, random_pairs(5, 6, 8), 2, 0));
  for (const char* key : {"prefix_accuracy/25", "prefix_accuracy/50", "prefix_accuracy/75", "prefix_accuracy/100"})
    CHECK(j.contains(key));
  CHECK(j.at("pairs") == 5);
}
