// SPDX-License-Identifier: MIT
// Gradient accumulation equals one big batch; SFT on a bigram TabularLM reaches the exact
// maximum-likelihood solution (the empirical bigram distribution of its corpus).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/data/datasets.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/train/sft.hpp"
#include "support/gradcheck.hpp"

namespace {

struct record {
  std::vector<rlhf::token_id> prompt_ids, completion_ids;
};

// Sequences from a random first-order Markov chain over V tokens: prompt = 1 token (or 2 for
// odd rows), completion = the rest; lengths vary from 3 to 10 tokens.
std::vector<record> markov_corpus(std::size_t n, rlhf::index_t v, std::uint64_t seed) {
  rlhf::counter_rng rng(seed, 1);
  std::vector<std::vector<double>> p(static_cast<std::size_t>(v), std::vector<double>(static_cast<std::size_t>(v)));
  std::uint64_t c = 0;
  for (auto& row : p) {
    double z = 0;
    for (auto& x : row) z += (x = std::exp(0.7 * rng.normal(c++)));
    for (auto& x : row) x /= z;
  }
  std::vector<record> out;
  for (std::size_t i = 0; i < n; ++i) {
    const auto len = 3 + static_cast<std::size_t>(rng.uniform(c++) * 8);
    std::vector<rlhf::token_id> seq{static_cast<rlhf::token_id>(rng.uniform(c++) * static_cast<double>(v))};
    while (seq.size() < len) {
      double u = rng.uniform(c++), acc = 0;
      rlhf::token_id next = static_cast<rlhf::token_id>(v - 1);
      for (rlhf::index_t k = 0; k < v; ++k)
        if (u < (acc += p[static_cast<std::size_t>(seq.back())][static_cast<std::size_t>(k)])) {
          next = static_cast<rlhf::token_id>(k);
          break;
        }
      seq.push_back(next);
    }
    const std::size_t np = 1 + (i % 2);
    out.push_back({{seq.begin(), seq.begin() + static_cast<std::ptrdiff_t>(np)},
                   {seq.begin() + static_cast<std::ptrdiff_t>(np), seq.end()}});
  }
  return out;
}

std::vector<std::size_t> iota(std::size_t first, std::size_t last) {
  std::vector<std::size_t> v;
  for (std::size_t i = first; i < last; ++i) v.push_back(i);
  return v;
}

std::vector<double> host_grad(rlhf::tabular_lm<rlhf::backend::eigen, double>& lm) {
  std::vector<double> g(static_cast<std::size_t>(lm.parameter_count()));
  rlhf::backend::eigen::to_host(std::span<double>(g), lm.gradients());
  return g;
}

}  // namespace

TEST_CASE("collating records right-pads, masks the completion and left-truncates the prompt", "[train][sft]") {
  const std::vector<record> r{{{1, 2, 3}, {4, 5}}, {{6}, {7}}, {{1, 2, 3, 4}, {5, 6, 7, 8, 9}}};
  const auto order = iota(0, 3);
  auto b = rlhf::data::collate(r, order, {.pad_id = 0, .max_length = 6});
  REQUIRE(b.tokens.shape(1) == 6);
  CHECK(b.lengths(0) == 5);
  CHECK(b.lengths(1) == 2);
  CHECK(b.lengths(2) == 6);
  // Row 2: completion 5 tokens fits with one prompt token kept (the last one).
  const std::vector<rlhf::token_id> row2{4, 5, 6, 7, 8, 9};
  for (std::size_t t = 0; t < 6; ++t) CHECK(b.tokens(2, t) == row2[t]);
  CHECK(b.response_mask(2, 0) == 0);
  CHECK(b.response_mask(2, 1) == 1);
  CHECK(b.response_mask(0, 2) == 0);
  CHECK(b.response_mask(0, 3) == 1);
  CHECK(b.response_mask(1, 2) == 0);  // padding
  CHECK(b.tokens(1, 5) == 0);
  CHECK(rlhf::train::count_response_tokens(b) == 2 + 1 + 5);
  // Completion longer than the limit: one prompt token, the completion cut at the end.
  auto c = rlhf::data::collate(r, std::vector<std::size_t>{2}, {.max_length = 3});
  CHECK(c.tokens(0, 0) == 4);
  CHECK(c.tokens(0, 2) == 6);
  CHECK(rlhf::train::count_response_tokens(c) == 2);
}

TEST_CASE("accumulating unequal micro-batches gives the gradient and loss of one big batch", "[train][accumulation]") {
  using lm_t = rlhf::tabular_lm<rlhf::backend::eigen, double>;
  const auto data = markov_corpus(9, 5, 3);
  lm_t lm({.vocab_size = 5, .init_std = 1.0}, 5);

  const auto all = iota(0, 9);
  const rlhf::token_batch big = rlhf::data::collate(data, all, {.max_length = 64});
  const double n_big = static_cast<double>(rlhf::train::count_response_tokens(big));
  lm.zero_grad();
  const double loss_big = rlhf::train::accumulate_gradients(lm, std::span<const rlhf::token_batch>(&big, 1), n_big,
                                                            rlhf::train::sft_loss_sum{});
  const auto g_big = host_grad(lm);

  // Three micro-batches of 2, 3 and 4 records (different token counts).
  std::vector<rlhf::token_batch> micro{rlhf::data::collate(data, iota(0, 2), {.max_length = 64}),
                                       rlhf::data::collate(data, iota(2, 5), {.max_length = 64}),
                                       rlhf::data::collate(data, iota(5, 9), {.max_length = 64})};
  const auto n = static_cast<double>(rlhf::train::count_response_tokens(std::span<const rlhf::token_batch>(micro)));
  CHECK(n == n_big);
  lm.zero_grad();
  const double loss_acc = rlhf::train::accumulate_gradients(lm, std::span<const rlhf::token_batch>(micro), n,
                                                            rlhf::train::sft_loss_sum{});
  const auto g_acc = host_grad(lm);
  CHECK(loss_acc == Approx(loss_big).epsilon(1e-13));
  CHECK(rlhf::test::relative_error(g_acc, g_big) < 1e-13);

  // The loss is the response-token mean NLL, and its gradient is that of a direct computation.
  const auto logp = lm.score(big);
  double direct = 0;
  for (std::size_t b = 0; b < 9; ++b)
    for (std::size_t t = 1; t < static_cast<std::size_t>(big.lengths(b)); ++t)
      if (big.response_mask(b, t)) direct -= logp(b, t);
  CHECK(loss_big == Approx(direct / n_big).epsilon(1e-13));

  // Averaging per-micro-batch means instead is NOT the big-batch gradient: the test can tell.
  lm.zero_grad();
  for (const auto& mb : micro) {
    const double nm = static_cast<double>(rlhf::train::count_response_tokens(mb)) * 3.0;
    rlhf::train::accumulate_gradients(lm, std::span<const rlhf::token_batch>(&mb, 1), nm, rlhf::train::sft_loss_sum{});
  }
  CHECK(rlhf::test::relative_error(host_grad(lm), g_big) > 1e-3);
  CHECK_THROWS_AS(rlhf::train::accumulate_gradients(lm, std::span<const rlhf::token_batch>(micro), 0.0,
                                                    rlhf::train::sft_loss_sum{}),
                  rlhf::invalid_argument);
}

TEST_CASE("SFT of a bigram TabularLM converges to the empirical bigram distribution of its corpus",
          "[train][sft][oracle]") {
  constexpr rlhf::index_t V = 5;
  const auto data = markov_corpus(300, V, 42);
  // Exact maximum-likelihood solution: counts of (previous token, token) over response tokens.
  std::vector<double> counts(V * V, 0.0);
  double n_tokens = 0;
  for (const auto& r : data) {
    std::vector<rlhf::token_id> seq = r.prompt_ids;
    seq.insert(seq.end(), r.completion_ids.begin(), r.completion_ids.end());
    for (std::size_t t = r.prompt_ids.size(); t < seq.size(); ++t) {
      counts[static_cast<std::size_t>(seq[t - 1] * V + seq[t])] += 1;
      n_tokens += 1;
    }
  }
  double entropy = 0;  // empirical conditional entropy = the minimum of the SFT loss
  for (rlhf::index_t c = 0; c < V; ++c) {
    double row = 0;
    for (rlhf::index_t k = 0; k < V; ++k) row += counts[static_cast<std::size_t>(c * V + k)];
    for (rlhf::index_t k = 0; k < V; ++k) {
      const double x = counts[static_cast<std::size_t>(c * V + k)];
      REQUIRE(x > 0);  // every transition is seen, so the optimum is finite
      entropy -= x * std::log(x / row);
    }
  }
  entropy /= n_tokens;

  rlhf::tabular_lm<rlhf::backend::eigen> lm({.vocab_size = V});
  const double before = rlhf::train::evaluate_nll(lm, data, 64, 64).mean_nll;
  CHECK(before == Approx(std::log(5.0)).epsilon(1e-6));  // a zero table is uniform
  std::vector<rlhf::train::step_metrics> log;
  rlhf::train::sft_trainer<decltype(lm)> trainer(
      {.optimizer = {.lr = 0.1, .schedule = rlhf::train::schedule_kind::constant, .max_grad_norm = 0.0, .grad_accum = 3},
       .steps = 400,
       .batch_size = 100},
      {.on_step = [&](const auto& m) { log.push_back(m); }});
  const auto result = trainer.train(lm, data);
  CHECK(result.steps == 400);
  CHECK(result.skipped_steps == 0);
  REQUIRE(log.size() == 400);
  CHECK(static_cast<double>(log[0].tokens) == n_tokens);  // full batch: every response token
  CHECK(log[0].loss == Approx(std::log(5.0)).epsilon(1e-6));
  CHECK(log.back().loss < log[0].loss);

  const auto table = lm.logits_table();
  double worst = 0;
  for (rlhf::index_t c = 0; c < V; ++c) {
    double row = 0, z = 0;
    for (rlhf::index_t k = 0; k < V; ++k) {
      row += counts[static_cast<std::size_t>(c * V + k)];
      z += std::exp(static_cast<double>(table(static_cast<std::size_t>(c), static_cast<std::size_t>(k))));
    }
    for (rlhf::index_t k = 0; k < V; ++k) {
      const double q = std::exp(static_cast<double>(table(static_cast<std::size_t>(c), static_cast<std::size_t>(k)))) / z;
      worst = std::max(worst, std::abs(q - counts[static_cast<std::size_t>(c * V + k)] / row));
    }
  }
  CHECK(worst < 2e-3);
  const auto after = rlhf::train::evaluate_nll(lm, data, 64, 64);
  CHECK(after.tokens == static_cast<rlhf::index_t>(n_tokens));
  CHECK(after.mean_nll == Approx(entropy).epsilon(1e-4));
  CHECK(after.mean_nll >= entropy - 1e-6);  // nothing beats the empirical distribution
}

TEST_CASE("SFT trainer: grad_accum × batch_size equals one big batch; metrics follow the schedule",
          "[train][sft]") {
  using lm_t = rlhf::tabular_lm<rlhf::backend::eigen, double>;
  const auto data = markov_corpus(24, 4, 9);
  lm_t a({.vocab_size = 4, .init_std = 0.3}, 1), b({.vocab_size = 4, .init_std = 0.3}, 1);
  const rlhf::train::sft_config base{
      .optimizer = {.lr = 0.05, .warmup = 2, .min_lr = 0.01, .max_grad_norm = 1.0, .grad_accum = 1},
      .epochs = 3,
      .batch_size = 8};
  rlhf::train::sft_config accum = base;
  accum.batch_size = 2;
  accum.optimizer.grad_accum = 4;
  std::vector<rlhf::train::step_metrics> la, lb;
  rlhf::train::sft_trainer<lm_t> ta(base, {.on_step = [&](const auto& m) { la.push_back(m); }}),
      tb(accum, {.on_step = [&](const auto& m) { lb.push_back(m); }});
  CHECK(ta.planned_steps(24) == 9);
  ta.train(a, data);
  tb.train(b, data);
  REQUIRE(la.size() == 9);
  REQUIRE(lb.size() == 9);
  const rlhf::train::lr_schedule sched{rlhf::train::schedule_kind::cosine, 0.05, 2, 9, 0.01};
  for (std::size_t i = 0; i < 9; ++i) {
    CHECK(la[i].step == static_cast<rlhf::index_t>(i + 1));
    CHECK(la[i].metrics.at("epoch") == static_cast<rlhf::index_t>(i / 3));
    CHECK(la[i].lr == Approx(sched(static_cast<rlhf::index_t>(i))));
    CHECK(lb[i].loss == Approx(la[i].loss).epsilon(1e-12));
    CHECK(lb[i].grad_norm == Approx(la[i].grad_norm).epsilon(1e-12));
    CHECK(lb[i].tokens == la[i].tokens);
    CHECK(std::isfinite(la[i].tokens_per_second));
  }
  const auto ga = a.logits_table(), gb = b.logits_table();
  for (std::size_t i = 0; i < ga.size(); ++i) CHECK(gb.data()[i] == Approx(ga.data()[i]).epsilon(1e-10));
  CHECK(rlhf::train::to_json(la[0]).at("step") == 1);

}

TEST_CASE("SFT skips the update when the gradient is not finite, and SGD trains too", "[train][sft]") {
  using lm_t = rlhf::tabular_lm<rlhf::backend::eigen>;
  const auto data = markov_corpus(16, 4, 2);
  lm_t lm({.vocab_size = 4});
  auto table = lm.logits_table();
  table(1, 2) = std::numeric_limits<float>::quiet_NaN();
  lm.set_logits_table(table);
  std::vector<rlhf::train::step_metrics> log;
  rlhf::train::sft_trainer<lm_t> t({.optimizer = {.kind = rlhf::train::optimizer_kind::sgd, .lr = 0.1, .momentum = 0.9},
                                    .steps = 2,
                                    .batch_size = 16},
                                   {.on_step = [&](const auto& m) { log.push_back(m); }});
  const auto r = t.train(lm, data);
  CHECK(r.skipped_steps == 2);
  CHECK(log[0].skipped);
  CHECK(rlhf::train::to_json(log[0]).at("grad_norm").is_null());
  const auto after = lm.logits_table();
  CHECK(after(0, 0) == 0.0f);  // unchanged

  lm_t ok({.vocab_size = 4});
  rlhf::train::sft_trainer<lm_t> ts({.optimizer = {.kind = rlhf::train::optimizer_kind::sgd,
                                                    .lr = 0.5,
                                                    .schedule = rlhf::train::schedule_kind::constant,
                                                    .momentum = 0.9},
                                      .steps = 30,
                                      .batch_size = 16});
  const auto rs = ts.train(ok, data);
  CHECK(rs.last_loss < rs.first_loss - 0.05);
}

TEST_CASE("SFT rejects bad configs and data with messages naming the option", "[train][sft][errors]") {
  using lm_t = rlhf::tabular_lm<rlhf::backend::eigen>;
  lm_t lm({.vocab_size = 4, .max_positions = 16});
  using cfg = rlhf::train::sft_config;
  using trainer = rlhf::train::sft_trainer<lm_t>;
  const std::vector<record> one{{{1}, {2}}};
  CHECK_THROWS_WITH(trainer(cfg{.optimizer = {.lr = 0}}), Catch::Contains("--lr"));
  CHECK_THROWS_WITH(trainer(cfg{.batch_size = 0}), Catch::Contains("--batch-size"));
  CHECK_THROWS_WITH(trainer(cfg{.optimizer = {.grad_accum = 0}}), Catch::Contains("--grad-accum"));
  CHECK_THROWS_WITH(trainer(cfg{.optimizer = {.max_grad_norm = -1}}), Catch::Contains("--max-grad-norm"));
  CHECK_THROWS_WITH(trainer(cfg{.optimizer = {.weight_decay = -1}}), Catch::Contains("--weight-decay"));
  CHECK_THROWS_WITH(trainer(cfg{.steps = 0, .epochs = 0}), Catch::Contains("--epochs"));
  CHECK_THROWS_WITH(trainer(cfg{}, {.log_every = 0}), Catch::Contains("--log-every"));
  CHECK_THROWS_WITH(trainer(cfg{}, {.save_every = 5}), Catch::Contains("--save-every"));
  CHECK_THROWS_WITH(trainer(cfg{.max_length = 17}).train(lm, one), Catch::Contains("n_positions"));
  CHECK_THROWS_AS(trainer(cfg{.pad_id = 4}).train(lm, one), rlhf::invalid_argument);
  trainer t(cfg{});
  CHECK_THROWS_AS(t.train(lm, std::vector<record>{}), rlhf::invalid_argument);
  CHECK_THROWS_WITH(t.train(lm, std::vector<record>{{{1}, {}}}), Catch::Contains("record 1 has an empty completion"));
  CHECK_THROWS_WITH(t.train(lm, std::vector<record>{{{}, {1, 2}}}), Catch::Contains("empty prompt"));
  // The io module's records train as they are.
  const std::vector<rlhf::data::sft_example> io_records{{{1, 2}, {3, 0}}, {{2}, {1}}};
  CHECK(trainer(cfg{}).train(lm, io_records).steps == 1);
  CHECK_THROWS_WITH(trainer(cfg{}).train(lm, std::vector<record>{{{1}, {2, 9}}}), Catch::Contains("token id 9"));
  CHECK_THROWS_AS(rlhf::train::evaluate_nll(lm, std::vector<record>{{{1}, {2}}}, 0, 8), rlhf::invalid_argument);
}
