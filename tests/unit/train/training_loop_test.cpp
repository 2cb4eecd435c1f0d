// SPDX-License-Identifier: MIT
// The shared training loop: resume from a checkpoint is bit-identical to an uninterrupted run
// (weights, optimizer moments, schedule and data position), logging and evaluation cadence,
// and non-finite steps skipped, counted and finally fatal.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <sstream>
#include <span>
#include <string>
#include <vector>

#include "../io/temp_dir.hpp"
#include "rlhf/backend.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/train/sft.hpp"

namespace {

struct record {
  std::vector<rlhf::token_id> prompt_ids, completion_ids;
};

std::vector<record> corpus(std::size_t n, rlhf::index_t v, std::uint64_t seed) {
  const rlhf::counter_rng rng(seed, 3);
  std::vector<record> out;
  std::uint64_t c = 0;
  for (std::size_t i = 0; i < n; ++i) {
    record r;
    r.prompt_ids.push_back(static_cast<rlhf::token_id>(rng.uniform(c++) * static_cast<double>(v)));
    const auto len = 2 + static_cast<std::size_t>(rng.uniform(c++) * 5);
    for (std::size_t t = 0; t < len; ++t)
      r.completion_ids.push_back(static_cast<rlhf::token_id>((r.prompt_ids[0] + 2 * t + (rng.uniform(c++) < 0.2)) % v));
    out.push_back(std::move(r));
  }
  return out;
}

template <class Model>
std::vector<float> weights(const Model& m) {
  std::vector<float> w(static_cast<std::size_t>(m.parameter_count()));
  rlhf::model_backend_t<Model>::to_host(std::span<float>(w), m.parameters());
  return w;
}

/// Trains straight through, and again with a checkpoint every `split` steps; a fresh model and
/// trainer resumed from checkpoint-<split> (as a new process would be) must then log the same
/// losses and end with the same weights, bit for bit.
template <class Model, class Make>
void check_resume(Make make, const rlhf::train::sft_config& cfg, const std::vector<record>& data, rlhf::index_t split,
                  rlhf::head_kind head = rlhf::head_kind::lm) {
  rlhf::test::temp_dir dir;
  Model straight = make();
  std::vector<double> straight_losses, resumed_losses;
  rlhf::train::sft_trainer<Model> a(cfg, {.on_step = [&](const auto& m) { straight_losses.push_back(m.loss); }});
  a.train(straight, data);

  Model early = make();
  rlhf::train::sft_trainer<Model> c(cfg, {.save_every = split, .checkpoint_dir = dir.path(), .head = head,
                                          .on_step = [&](const auto& m) { resumed_losses.push_back(m.loss); }});
  c.train(early, data);  // writes checkpoint-split (and later multiples)
  resumed_losses.resize(static_cast<std::size_t>(split));
  const auto ckpt = dir.path() / ("checkpoint-" + std::to_string(split));
  REQUIRE(std::filesystem::exists(ckpt / "trainer_state.json"));
  REQUIRE(std::filesystem::exists(ckpt / "optimizer.safetensors"));

  Model later = make();  // a fresh process would start from the init weights too
  rlhf::train::sft_trainer<Model> d(cfg, {.on_step = [&](const auto& m) { resumed_losses.push_back(m.loss); }});
  const auto state = d.resume(later, ckpt);
  CHECK(state.at("records") == data.size());
  const auto r = d.train(later, data);
  CHECK(r.first_step == split);
  CHECK(resumed_losses == straight_losses);
  CHECK(weights(later) == weights(straight));
}

}  // namespace

TEST_CASE("SFT resumed from a checkpoint is bit-identical to an uninterrupted run (tabular, AdamW)",
          "[train][loop][resume]") {
  using lm_t = rlhf::tabular_lm<rlhf::backend::eigen>;
  const auto data = corpus(40, 6, 1);
  const rlhf::train::sft_config cfg{
      .optimizer = {.lr = 0.05, .warmup = 2, .min_lr = 0.005, .weight_decay = 0.01, .max_grad_norm = 0.5},
      .epochs = 3,
      .batch_size = 7,
      .seed = 11,
      .shuffle = true};
  check_resume<lm_t>([] { return lm_t({.vocab_size = 6, .init_std = 0.3}, 2); }, cfg, data, 5);
}

TEST_CASE("SFT resumed from a checkpoint is bit-identical (tabular, SGD with momentum)", "[train][loop][resume]") {
  using lm_t = rlhf::tabular_lm<rlhf::backend::eigen>;
  const auto data = corpus(30, 5, 2);
  const rlhf::train::sft_config cfg{
      .optimizer = {.kind = rlhf::train::optimizer_kind::sgd, .lr = 0.3, .momentum = 0.9}, .steps = 9, .batch_size = 8};
  check_resume<lm_t>([] { return lm_t({.vocab_size = 5}, 0); }, cfg, data, 4);
}

TEST_CASE("SFT resumed from a checkpoint is bit-identical (transformer)", "[train][loop][resume][transformer]") {
  using lm_t = rlhf::transformer<rlhf::backend::eigen, rlhf::lm_head>;
  const auto data = corpus(24, 8, 3);
  const rlhf::train::sft_config cfg{.optimizer = {.lr = 3e-3, .warmup = 1}, .steps = 6, .batch_size = 6,
                                    .seed = 5, .shuffle = true};
  check_resume<lm_t>([] { return lm_t({.vocab_size = 8, .n_positions = 12, .n_embd = 16, .n_layer = 1, .n_head = 2}, 4); },
                     cfg, data, 3);
}

TEST_CASE("the loop logs JSON every N steps, evaluates on its cadence, and refuses a foreign checkpoint",
          "[train][loop]") {
  using lm_t = rlhf::tabular_lm<rlhf::backend::eigen>;
  const auto data = corpus(20, 4, 4);
  std::ostringstream json;
  std::vector<rlhf::index_t> evals;
  rlhf::train::sft_trainer<lm_t> t({.optimizer = {.lr = 0.1}, .steps = 7, .batch_size = 4},
                                   {.log_every = 3, .json = &json, .eval_every = 2,
                                    .on_eval = [&](rlhf::index_t step, const nlohmann::json&) { evals.push_back(step); }});
  lm_t lm({.vocab_size = 4});
  const auto r = t.train(lm, data, [&](lm_t& m) {
    return nlohmann::json{{"eval_nll", rlhf::train::evaluate_nll(m, data, 8, 0).mean_nll}};
  });
  CHECK(evals == std::vector<rlhf::index_t>{2, 4, 6, 7});
  CHECK(r.last_eval.contains("eval_nll"));
  std::vector<nlohmann::json> lines;
  std::istringstream in(json.str());
  for (std::string l; std::getline(in, l);) lines.push_back(nlohmann::json::parse(l));
  std::vector<rlhf::index_t> logged;
  for (const auto& j : lines)
    if (!j.contains("eval")) logged.push_back(j.at("step").get<rlhf::index_t>());
  CHECK(logged == std::vector<rlhf::index_t>{3, 6, 7});
  CHECK(lines.size() == 3 + 4);

  // A checkpoint of another seed or optimizer is refused by name.
  rlhf::test::temp_dir dir;
  rlhf::train::sft_trainer<lm_t> s({.optimizer = {.lr = 0.1}, .steps = 2, .batch_size = 4},
                                   {.save_every = 2, .checkpoint_dir = dir.path()});
  lm_t m2({.vocab_size = 4});
  s.train(m2, data);
  rlhf::train::sft_trainer<lm_t> other_seed({.optimizer = {.lr = 0.1}, .steps = 2, .batch_size = 4, .seed = 9},
                                            {.seed = 9});
  CHECK_THROWS_WITH(other_seed.resume(m2, dir.path() / "checkpoint-2"), Catch::Contains("--seed"));
  rlhf::train::sft_trainer<lm_t> other_opt(
      {.optimizer = {.kind = rlhf::train::optimizer_kind::sgd, .lr = 0.1}, .steps = 2, .batch_size = 4});
  CHECK_THROWS_WITH(other_opt.resume(m2, dir.path() / "checkpoint-2"), Catch::Contains("--optimizer"));
  CHECK_THROWS_AS(other_opt.resume(m2, dir.path() / "nothing-here"), rlhf::io_error);
}

TEST_CASE("non-finite steps are skipped and counted; K in a row stop the run naming the step", "[train][loop]") {
  using lm_t = rlhf::tabular_lm<rlhf::backend::eigen>;
  const auto data = corpus(8, 4, 5);
  lm_t lm({.vocab_size = 4});
  auto table = lm.logits_table();
  table(1, 2) = std::numeric_limits<float>::quiet_NaN();
  for (std::size_t c = 0; c < 4; ++c) table(c, 0) = std::numeric_limits<float>::quiet_NaN();
  lm.set_logits_table(table);
  rlhf::train::sft_trainer<lm_t> t({.optimizer = {.lr = 0.1}, .steps = 10, .batch_size = 8}, {.max_bad_steps = 3});
  CHECK_THROWS_AS(t.train(lm, data), rlhf::numerical_error);
  rlhf::train::sft_trainer<lm_t> t2({.optimizer = {.lr = 0.1}, .steps = 10, .batch_size = 8}, {.max_bad_steps = 3});
  CHECK_THROWS_WITH(t2.train(lm, data), Catch::Contains("step 3") && Catch::Contains("3 steps in a row"));
}
