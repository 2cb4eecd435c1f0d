// SPDX-License-Identifier: MIT
// Data-parallel training through the shared loop (train/training_loop.hpp, dataset_loop.hpp):
// P processes with a per-process batch b give the weights of ONE process with batch P·b — the
// same records per step, losses normalised by global counts — within 1e-5 relative (the order of
// the sums differs), for SFT, the reward model (sequence and prefix), DPO, GenARM, the CD value
// model and FaRMA, on each backend; every process ends with the same bits; the loop's reported
// losses equal the single process's. The batches are chosen so the last step of an epoch is
// uneven (under 3 processes one process gets no record at all).
//
// Run as one process (ctest `dist`: P = 1, the identity) and under mpirun -np 2 and -np 3 in an
// MPI build (dist.np2, dist.np3). The reference run uses dist::single_process on every process.
//
// Tolerance: as determinism_test.cpp, AdamW at lr 1e-3 amplifies the float noise of near-zero
// gradients, so weights agree to ||a − b|| / (||a|| + ||b||) < 1e-5 and element-wise
// |a − b| <= 1e-4 · max(1, |b|); the first step's loss (same weights on both sides) to 1e-6.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "rlhf/backend.hpp"
#include "rlhf/dist.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/sampling/any_sampler.hpp"
#include "rlhf/train/dpo.hpp"
#include "rlhf/train/farma.hpp"
#include "rlhf/train/genarm.hpp"
#include "rlhf/train/grpo.hpp"
#include "rlhf/train/ppo.hpp"
#include "rlhf/train/reward.hpp"
#include "rlhf/train/rloo.hpp"
#include "rlhf/train/sft.hpp"
#include "rlhf/train/value.hpp"
#include "support/backends.hpp"
#include "support/gradcheck.hpp"
#include "support/train_fixtures.hpp"

namespace {

using rlhf::index_t;
namespace rt = rlhf::train;
namespace dist = rlhf::dist;
using params = std::vector<double>;

const rlhf::gpt2_config tiny{.vocab_size = 16, .n_positions = 16, .n_embd = 16, .n_layer = 1, .n_head = 2};
constexpr std::uint64_t model_seed = 31;
const rt::optimizer_config adamw{.lr = 1e-3, .weight_decay = 0.01, .max_grad_norm = 1.0};

template <class B>
using lm_t = rlhf::transformer<B, rlhf::lm_head>;
template <class B>
using value_t = rlhf::transformer<B, rlhf::scalar_head>;

/// Loop options of a run: the world's communicator (data-parallel) or one process (reference).
rt::loop_options options(bool distributed) {
  rt::loop_options o;
  o.progress = false;
  o.comm = distributed ? dist::world() : dist::any_communicator(dist::single_process{});
  return o;
}

/// What a run leaves: the weights and the loop's first and last reported losses.
struct outcome {
  params weights;
  double first_loss = 0, last_loss = 0;
  index_t steps = 0;
};
template <class Model>
outcome outcome_of(const rt::loop_result& r, const Model& m) {
  return {rlhf::test::params_of(m), r.first_loss, r.last_loss, r.steps};
}

/// `run(bool distributed, index_t batch) -> outcome`: the data-parallel run with batch b against
/// the single-process run with batch P·b.
void check_equivalent(const std::function<outcome(bool, index_t)>& run, index_t b) {
  const auto& w = dist::world();
  const int p = w.size();
  const outcome dp = run(true, b);
  const outcome ref = run(false, b * p);
  INFO(p << " processes × batch " << b << " vs 1 process × batch " << b * p << "; steps " << dp.steps << " and "
         << ref.steps << ", first loss " << dp.first_loss << " vs " << ref.first_loss);
  REQUIRE(dp.steps == ref.steps);
  REQUIRE(dp.weights.size() == ref.weights.size());
  CHECK(dp.first_loss == Approx(ref.first_loss).epsilon(1e-6));
  CHECK(std::isfinite(dp.last_loss));
  double worst = 0;
  for (std::size_t i = 0; i < dp.weights.size(); ++i)
    worst = std::max(worst, std::abs(dp.weights[i] - ref.weights[i]) / (1e-4 * std::max(1.0, std::abs(ref.weights[i]))));
  const double rel = rlhf::test::relative_error(dp.weights, ref.weights);
  INFO("relative-norm error " << rel << ", worst element at " << worst << " of its bound");
  CHECK(rel < 1e-5);
  CHECK(worst <= 1.0);
  // Every process holds the same weights, bit for bit.
  const std::string mine(reinterpret_cast<const char*>(dp.weights.data()), dp.weights.size() * sizeof(double));
  for (const auto& other : w.all_gather(mine)) CHECK(other == mine);
}

std::vector<rlhf::data::sft_example> demonstrations(std::size_t n) {
  return rlhf::test::random_demonstrations(n, tiny.vocab_size, 13, 1,
                                           [](std::size_t i) { return std::pair{1 + i % 3, 1 + (i * 7) % 6}; });
}
std::vector<rlhf::data::preference_example> pairs(std::size_t n) {
  return rlhf::test::random_pairs(n, tiny.vocab_size, 14, {.max_prompt = 3, .max_response = 5});
}
std::vector<rlhf::data::scored_example> scored(std::size_t n) {
  const rlhf::counter_rng rng(15, 2);
  std::uint64_t c = 0;
  std::vector<rlhf::data::scored_example> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back({rlhf::test::random_tokens(rng, c, 2, tiny.vocab_size),
                   rlhf::test::random_tokens(rng, c, 1 + i % 5, tiny.vocab_size), 2.0 * rng.uniform(c++) - 1.0});
  return out;
}

}  // namespace

// 13 records, batch 2 × accumulation 2 per process: under P = 3 a step takes 12, so each epoch's
// second step has one record and two processes have none.
TEMPLATE_LIST_TEST_CASE("data parallel: SFT on P processes equals one process with P times the batch",
                        "[dist][sft]", rlhf::test::backends) {
  using B = TestType;
  const auto data = demonstrations(13);
  check_equivalent(
      [&](bool distributed, index_t batch) {
        lm_t<B> lm(tiny, model_seed);
        rt::optimizer_config opt = adamw;
        opt.grad_accum = 2;
        rt::sft_trainer<lm_t<B>> t({.optimizer = opt, .epochs = 2, .batch_size = batch, .seed = 1, .shuffle = true},
                                   options(distributed));
        return outcome_of(t.train(lm, data), lm);
      },
      2);
}

TEMPLATE_LIST_TEST_CASE("data parallel: sequence and prefix reward models equal one process with P times the batch",
                        "[dist][reward]", rlhf::test::backends) {
  using B = TestType;
  const auto data = pairs(11);
  for (const bool prefix : {false, true}) {
    INFO((prefix ? "prefix" : "sequence") << " reward model");
    check_equivalent(
        [&](bool distributed, index_t batch) {
          value_t<B> rm(tiny, model_seed);
          rt::reward_trainer<value_t<B>> t(
              {.optimizer = adamw, .epochs = 2, .batch_size = batch, .seed = 2, .shuffle = true, .prefix = prefix},
              options(distributed));
          return outcome_of(t.train(rm, data), rm);
        },
        2);
  }
}

TEMPLATE_LIST_TEST_CASE("data parallel: DPO equals one process with P times the batch", "[dist][dpo]",
                        rlhf::test::backends) {
  using B = TestType;
  const auto data = pairs(11);
  check_equivalent(
      [&](bool distributed, index_t batch) {
        lm_t<B> policy(tiny, model_seed), ref(tiny, model_seed + 1);
        rt::dpo_trainer<lm_t<B>> t({.optimizer = adamw, .epochs = 2, .batch_size = batch, .seed = 3, .shuffle = true,
                                    .beta = 0.2},
                                   rlhf::loss::sigmoid(), rlhf::divergences::reverse_kl(), options(distributed));
        return outcome_of(t.train(policy, data, ref), policy);
      },
      2);
}

TEMPLATE_LIST_TEST_CASE("data parallel: GenARM, the CD value model and FaRMA equal one process with P times the batch",
                        "[dist][genarm][value][farma]", rlhf::test::backends) {
  using B = TestType;
  const auto prefs = pairs(11);
  SECTION("GenARM") {
    check_equivalent(
        [&](bool distributed, index_t batch) {
          lm_t<B> m(tiny, model_seed);
          rt::genarm_config cfg;
          cfg.reward = {.optimizer = adamw, .epochs = 2, .batch_size = batch, .seed = 5, .shuffle = true};
          rt::genarm_trainer<lm_t<B>> t(cfg, options(distributed));
          return outcome_of(t.train(m, prefs), m);
        },
        2);
  }
  SECTION("CD value model") {
    const auto data = scored(13);
    check_equivalent(
        [&](bool distributed, index_t batch) {
          value_t<B> vm(tiny, model_seed);
          rt::value_trainer<value_t<B>> t({.optimizer = adamw, .epochs = 2, .batch_size = batch, .seed = 6,
                                           .shuffle = true},
                                          options(distributed));
          return outcome_of(t.train(vm, data), vm);
        },
        2);
  }
  SECTION("FaRMA (L1 and L2 alternating)") {
    check_equivalent(
        [&](bool distributed, index_t batch) {
          using model_t = rlhf::transformer<B, rlhf::token_reward_head>;
          model_t m(tiny, model_seed);
          rt::farma_config cfg;
          cfg.l1 = {.optimizer = adamw, .steps = 3, .batch_size = batch, .seed = 4, .shuffle = true};
          rt::farma_trainer<model_t> t(cfg, options(distributed));
          return outcome_of(t.train(m, prefs), m);
        },
        2);
  }
}

TEST_CASE("data parallel: only rank 0 writes checkpoints and JSON lines", "[dist][sft]") {
  using B = rlhf::backend::eigen;
  const auto& w = dist::world();
  const auto dir = std::filesystem::temp_directory_path() /
                   ("rlhf_dist_ckpt_" + std::to_string(::getpid()) + "_" + std::to_string(w.rank()));
  std::filesystem::remove_all(dir);
  std::ostringstream json;
  auto o = options(true);
  o.save_every = 2;
  o.checkpoint_dir = dir;
  o.json = &json;
  o.log_every = 1;
  lm_t<B> lm(tiny, model_seed);
  rt::sft_trainer<lm_t<B>> t({.optimizer = adamw, .steps = 2, .batch_size = 2, .seed = 1}, o);
  t.train(lm, demonstrations(8));
  CHECK(std::filesystem::exists(dir / "checkpoint-2") == w.is_root());
  CHECK(json.str().empty() == !w.is_root());
  std::filesystem::remove_all(dir);
}

namespace {
/// The gold reward of the online runs: the fraction of response tokens below 6.
struct low_tokens {
  double operator()(std::span<const rlhf::token_id>, std::span<const rlhf::token_id> r) const {
    double n = 0;
    for (rlhf::token_id t : r) n += t < 6 ? 1.0 : 0.0;
    return r.empty() ? 0.0 : n / static_cast<double>(r.size());
  }
};
std::vector<std::vector<rlhf::token_id>> prompt_set(std::size_t n) {
  const rlhf::counter_rng rng(16, 3);
  std::uint64_t c = 0;
  std::vector<std::vector<rlhf::token_id>> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(rlhf::test::random_tokens(rng, c, 1 + i % 3, tiny.vocab_size));
  return out;
}
/// 2 rollouts of (per process) 2 prompts × 2 samples of up to 5 tokens, 2 epochs × 3 minibatches:
/// under P = 2 a minibatch of 8 rows splits 3/3/2 and each shard 2/1; under P = 3, 12 rows in 4s.
rt::rollout_config rollout_settings(index_t prompts) {
  return {.optimizer = adamw, .rollouts = 2, .prompts_per_rollout = prompts, .samples_per_prompt = 2, .epochs = 2,
          .minibatches = 3, .max_new_tokens = 5, .generation_batch = 3, .threads = 1, .kl_coef = 0.1, .seed = 8};
}
const auto any_sampler = rlhf::sampling::any_sampler::parse("");
}  // namespace

TEMPLATE_LIST_TEST_CASE("data parallel: PPO, RLOO and GRPO rollouts on P processes equal one process with P times "
                        "the prompts", "[dist][online]", rlhf::test::backends) {
  using B = TestType;
  const auto prompts = prompt_set(7);
  low_tokens gold;
  SECTION("PPO (policy and critic)") {
    check_equivalent(
        [&](bool distributed, index_t batch) {
          lm_t<B> policy(tiny, model_seed), ref(tiny, model_seed);
          value_t<B> critic(tiny, model_seed + 2);
          const auto cfg = rollout_settings(batch);
          rt::ppo_trainer<lm_t<B>, value_t<B>, low_tokens> t(cfg, {.critic_optimizer = adamw}, options(distributed));
          // the critic's loop: the same processes as the policy's
          auto r = t.train(policy, critic, ref, gold, prompts, any_sampler);
          auto o = outcome_of(r, policy);
          const auto c = rlhf::test::params_of(critic);
          o.weights.insert(o.weights.end(), c.begin(), c.end());
          return o;
        },
        2);
  }
  SECTION("RLOO") {
    check_equivalent(
        [&](bool distributed, index_t batch) {
          lm_t<B> policy(tiny, model_seed), ref(tiny, model_seed);
          rt::rloo_trainer<lm_t<B>> t(rollout_settings(batch), {}, options(distributed));
          return outcome_of(t.train(policy, ref, gold, prompts, any_sampler), policy);
        },
        2);
  }
  SECTION("GRPO (k3 KL loss)") {
    check_equivalent(
        [&](bool distributed, index_t batch) {
          lm_t<B> policy(tiny, model_seed), ref(tiny, model_seed);
          rt::grpo_trainer<lm_t<B>> t(rollout_settings(batch), rt::grpo_method{}, options(distributed));
          return outcome_of(t.train(policy, ref, gold, prompts, any_sampler), policy);
        },
        2);
  }
}
