// SPDX-License-Identifier: MIT
// The online trainers (train/rollout.hpp, ppo.hpp, rloo.hpp, grpo.hpp) on a bandit: each moves
// toward its fixed point (the full oracle is examples/bandit_closed_form); the same seed gives
// bit-identical weights on 1 and 2 sampling threads; a resumed PPO run (policy, critic, β)
// equals an uninterrupted one; bad input is refused with the fix.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <span>
#include <vector>

#include "../io/temp_dir.hpp"
#include "rlhf/backend.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/objective/kl_optimum.hpp"
#include "rlhf/sampling/any_sampler.hpp"
#include "rlhf/train/grpo.hpp"
#include "rlhf/train/ppo.hpp"
#include "rlhf/train/rloo.hpp"
#include "support/backends.hpp"
#include "support/train_fixtures.hpp"

namespace {

using rlhf::index_t;
using rlhf::token_id;
namespace rt = rlhf::train;
using rlhf::test::params_of;

constexpr index_t n_prompts = 2, n_actions = 4;
constexpr double beta = 0.5;
const double reward_table[n_prompts][n_actions] = {{1.0, -0.5, 0.3, -1.0}, {-0.2, 0.8, 0.0, 0.4}};

struct gold_t {
  double operator()(std::span<const token_id> p, std::span<const token_id> r) const { return reward_table[p[0]][r[0]]; }
};

template <class B = rlhf::backend::eigen>
rlhf::tabular_lm<B> bandit_lm(std::uint64_t seed = 5) {
  return rlhf::tabular_lm<B>({.vocab_size = n_actions, .context = rlhf::tabular_context::bandit, .n_contexts = n_prompts,
                              .max_positions = 4, .init_std = 0.5},
                             seed);
}
template <class B = rlhf::backend::eigen>
rlhf::tabular_critic<B> bandit_critic() {
  return rlhf::tabular_critic<B>(
      {.vocab_size = n_actions, .context = rlhf::tabular_context::bandit, .n_contexts = n_prompts, .max_positions = 4});
}

template <class LM>
double kl_to_optimum(const LM& policy, const LM& ref) {
  double worst = 0;
  const auto t = policy.logits_table(), r = ref.logits_table();
  for (index_t s = 0; s < n_prompts; ++s) {
    std::vector<double> lp(n_actions), lr(n_actions), rw(reward_table[s], reward_table[s] + n_actions);
    for (index_t a = 0; a < n_actions; ++a) {
      lp[a] = t(s, a);
      lr[a] = r(s, a);
    }
    const auto norm = [](std::vector<double>& x) {
      const double l = rlhf::math::logsumexp(std::span<const double>(x));
      for (double& v : x) v -= l;
    };
    norm(lp);
    norm(lr);
    worst = std::max(worst, rlhf::kl_to_optimum(lp, lr, rw, beta));
  }
  return worst;
}

rt::rollout_config config(index_t prompts_per_rollout, index_t k, index_t rollouts = 40) {
  return {.optimizer = {.lr = 0.05, .max_grad_norm = 0.0},
          .rollouts = rollouts,
          .prompts_per_rollout = prompts_per_rollout,
          .samples_per_prompt = k,
          .epochs = 2,
          .minibatches = 2,
          .max_new_tokens = 1,
          .generation_batch = 64,
          .kl_coef = beta,
          .seed = 3};
}

std::vector<std::vector<token_id>> prompts(int copies = 1) {
  std::vector<std::vector<token_id>> p;
  for (int i = 0; i < copies; ++i)
    for (token_id s = 0; s < n_prompts; ++s) p.push_back({s});
  return p;
}

const auto sampler = rlhf::sampling::any_sampler::parse("");

}  // namespace

TEMPLATE_LIST_TEST_CASE("online RL: PPO, RLOO and GRPO move toward their fixed points on a bandit", "[online][train]",
                        rlhf::test::backends) {
  auto ref = bandit_lm<TestType>();
  const double before = kl_to_optimum(ref, ref);
  gold_t gold;
  SECTION("PPO") {
    auto policy = bandit_lm<TestType>();
    auto critic = bandit_critic<TestType>();
    const auto p = prompts(64);
    rt::ppo_trainer<decltype(policy), decltype(critic), gold_t> trainer(config(static_cast<index_t>(p.size()), 1), {},
                                                                        {.progress = false});
    const auto r = trainer.train(policy, critic, ref, gold, p, sampler);
    CHECK(r.steps == 40 * 4);
    CHECK(kl_to_optimum(policy, ref) < 0.05 * before);
  }
  SECTION("RLOO") {
    auto policy = bandit_lm<TestType>();
    rt::rloo_trainer<decltype(policy)> trainer(config(n_prompts, 64), {}, {.progress = false});
    trainer.train(policy, ref, gold, prompts(), sampler);
    CHECK(kl_to_optimum(policy, ref) < 0.05 * before);
  }
  SECTION("GRPO without std scaling and with the k1 penalty in the reward") {
    auto policy = bandit_lm<TestType>();
    rt::grpo_trainer<decltype(policy)> trainer(config(n_prompts, 64), rt::grpo_method({false, true}),
                                               {.progress = false});
    trainer.train(policy, ref, gold, prompts(), sampler);
    CHECK(kl_to_optimum(policy, ref) < 0.05 * before);
  }
}

TEST_CASE("online RL: the same seed gives bit-identical weights on 1 and 2 threads", "[online][train][determinism]") {
  auto ref = bandit_lm();
  gold_t gold;
  std::vector<double> w[2];
  for (int threads : {1, 2}) {
    auto policy = bandit_lm();
    auto cfg = config(n_prompts, 16, 5);  // 5 rollouts x 2 epochs x 2 minibatches = 20 steps
    cfg.threads = threads;
    rt::grpo_trainer<decltype(policy)> trainer(cfg, rt::grpo_method{}, {.progress = false});
    trainer.train(policy, ref, gold, prompts(), sampler);
    w[threads - 1] = params_of(policy);
  }
  CHECK(w[0] == w[1]);
}

TEST_CASE("online RL: a resumed PPO run equals an uninterrupted one", "[online][train][resume]") {
  rlhf::test::temp_dir dir;
  auto ref = bandit_lm();
  gold_t gold;
  const auto p = prompts(8);
  auto cfg = config(static_cast<index_t>(p.size()), 1, 6);
  cfg.target_kl = 0.05;  // β moves: the checkpoint must carry it
  using lm_t = decltype(ref);
  using critic_t = rlhf::tabular_critic<rlhf::backend::eigen>;
  lm_t full = bandit_lm();
  critic_t full_critic = bandit_critic();
  {
    rt::ppo_trainer<lm_t, critic_t, gold_t> t(cfg, {}, {.progress = false, .save_every = 12, .checkpoint_dir = dir.path()});
    t.train(full, full_critic, ref, gold, p, sampler);
  }
  lm_t resumed = bandit_lm();
  critic_t resumed_critic = bandit_critic();
  {
    rt::ppo_trainer<lm_t, critic_t, gold_t> t(cfg, {}, {.progress = false});
    t.resume(resumed, resumed_critic, dir.path() / "checkpoint-12");
    const auto r = t.train(resumed, resumed_critic, ref, gold, p, sampler);
    CHECK(r.first_step == 12);
  }
  CHECK(params_of(full) == params_of(resumed));
  CHECK(params_of(full_critic) == params_of(resumed_critic));
}

TEST_CASE("online RL: bad input is refused with the fix", "[online][train][errors]") {
  auto ref = bandit_lm(), policy = bandit_lm();
  gold_t gold;
  using lm_t = decltype(policy);
  CHECK_THROWS_WITH(rt::rloo_trainer<lm_t>(config(2, 1), {}), Catch::Contains("--samples must be >= 2"));
  CHECK_THROWS_WITH(rt::grpo_trainer<lm_t>(config(2, 1), rt::grpo_method{}), Catch::Contains("--samples must be >= 2"));
  auto cfg = config(2, 4);
  cfg.kl_coef = -1;
  CHECK_THROWS_WITH(rt::rloo_trainer<lm_t>(cfg, {}), Catch::Contains("--kl-coef"));
  cfg = config(2, 4);
  cfg.clip_eps = 1.5;
  CHECK_THROWS_WITH(rt::rloo_trainer<lm_t>(cfg, {}), Catch::Contains("--clip-range"));
  CHECK_THROWS_WITH(rt::rloo_trainer<lm_t>(config(2, 4), {}, {.save_every = 3, .checkpoint_dir = "x"}),
                    Catch::Contains("multiple of the optimizer steps per rollout"));
  rt::rloo_trainer<lm_t> trainer(config(2, 4, 1), {}, {.progress = false});
  const std::vector<std::vector<token_id>> long_prompt{{0, 1, 2, 3}};
  CHECK_THROWS_WITH(trainer.train(policy, ref, gold, long_prompt, sampler), Catch::Contains("no room"));
  const std::vector<std::vector<token_id>> bad_id{{9}};
  CHECK_THROWS_WITH(trainer.train(policy, ref, gold, bad_id, sampler), Catch::Contains("outside the vocabulary"));
  auto other = rlhf::tabular_lm<rlhf::backend::eigen>({.vocab_size = 5, .context = rlhf::tabular_context::bandit,
                                                       .n_contexts = n_prompts, .max_positions = 4});
  CHECK_THROWS_WITH(trainer.train(policy, other, gold, prompts(), sampler), Catch::Contains("vocab_size"));
  const auto nan_reward = [](std::span<const token_id>, std::span<const token_id>) { return std::nan(""); };
  CHECK_THROWS_AS(trainer.train(policy, ref, nan_reward, prompts(), sampler), rlhf::numerical_error);
}
