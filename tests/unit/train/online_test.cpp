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
#include "rlhf/model/transformer.hpp"
#include "rlhf/objective/kl_optimum.hpp"
#include "rlhf/sampling/any_sampler.hpp"
#include "rlhf/train/dpo.hpp"
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

// ---- the tiny transformer: each method raises a gold reward on held-out prompts ----

namespace {

const rlhf::gpt2_config tiny{.vocab_size = 8, .n_positions = 12, .n_embd = 16, .n_layer = 1, .n_head = 2};
constexpr token_id liked = 3;

/// The gold reward: the fraction of response tokens that are `liked`.
struct count_reward {
  double operator()(std::span<const token_id>, std::span<const token_id> r) const {
    double n = 0;
    for (token_id t : r) n += t == liked;
    return r.empty() ? 0.0 : n / static_cast<double>(r.size());
  }
};

std::vector<std::vector<token_id>> random_prompts(std::size_t n, std::uint64_t seed) {
  const rlhf::counter_rng rng(seed, 3);
  std::uint64_t c = 0;
  std::vector<std::vector<token_id>> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(rlhf::test::random_tokens(rng, c, 2, tiny.vocab_size));
  return out;
}

/// Mean paired gain of `policy` over `ref` in gold reward on held-out prompts (4 samples each,
/// the same seeds for both), its standard error, and the policy's mean KL(π‖π_ref) estimate.
struct gain {
  double mean = 0, se = 0, kl = 0;
};
template <class LM>
gain held_out_gain(LM& policy, LM& ref) {
  auto prompts = random_prompts(16, 99);
  std::vector<std::vector<token_id>> rows;
  for (const auto& p : prompts)
    for (int j = 0; j < 4; ++j) rows.push_back(p);
  const rlhf::generate_options opt{.max_new_tokens = 4, .seed = 1234};
  const auto a = rlhf::generate(policy, std::span<const std::vector<token_id>>(rows), sampler, opt);
  const auto b = rlhf::generate(ref, std::span<const std::vector<token_id>>(rows), sampler, opt);
  count_reward gold;
  std::vector<double> d;
  gain g;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    d.push_back(gold(rows[i], a.sequences[i].tokens) - gold(rows[i], b.sequences[i].tokens));
    g.mean += d.back();
  }
  g.mean /= static_cast<double>(d.size());
  double ss = 0;
  for (double x : d) ss += (x - g.mean) * (x - g.mean);
  g.se = std::sqrt(ss / static_cast<double>(d.size() - 1) / static_cast<double>(d.size()));
  // KL(π‖π_ref) ≈ mean over the policy's samples of Σ_t (log π - log π_ref).
  rt::rollout_buffer buf;
  buf.prompts = rows;
  for (auto& s : a.sequences) buf.responses.push_back(s.tokens);
  const auto all = buf.all_rows();
  const auto batch = buf.collate(all, 0);
  const rlhf::data::response_view view(batch);
  const auto lp = view.sums(policy.score(batch)), lr = view.sums(ref.score(batch));
  for (std::size_t i = 0; i < rows.size(); ++i) g.kl += (lp(i) - lr(i)) / static_cast<double>(rows.size());
  return g;
}

rt::rollout_config tiny_config(index_t k) {
  return {.optimizer = {.lr = 3e-3},
          .rollouts = 15,
          .prompts_per_rollout = 16,
          .samples_per_prompt = k,
          .epochs = 2,
          .minibatches = 2,
          .max_new_tokens = 4,
          .kl_coef = 0.2,
          .seed = 5};
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("online RL on the tiny transformer: PPO, RLOO and GRPO raise the gold reward on held-out prompts",
                        "[online][train][transformer]", rlhf::test::backends) {
  using tf_lm = rlhf::transformer<TestType, rlhf::lm_head>;
  using tf_value = rlhf::transformer<TestType, rlhf::scalar_head>;
  tf_lm ref(tiny, 21);
  const auto prompts = random_prompts(32, 7);
  count_reward gold;
  constexpr double kl_bound = 4.0;  // nats per response of 4 tokens (β = 0.2)
  gain g;
  SECTION("PPO") {
    tf_lm policy(tiny, 21);
    tf_value critic(tiny, 22);
    rt::ppo_trainer<tf_lm, tf_value, count_reward> trainer(tiny_config(1), {.critic_optimizer = {.lr = 3e-3}},
                                                           {.progress = false});
    trainer.train(policy, critic, ref, gold, prompts, sampler);
    g = held_out_gain(policy, ref);
  }
  SECTION("RLOO") {
    tf_lm policy(tiny, 21);
    rt::rloo_trainer<tf_lm> trainer(tiny_config(4), {}, {.progress = false});
    trainer.train(policy, ref, gold, prompts, sampler);
    g = held_out_gain(policy, ref);
  }
  SECTION("GRPO") {
    tf_lm policy(tiny, 21);
    rt::grpo_trainer<tf_lm> trainer(tiny_config(4), rt::grpo_method{}, {.progress = false});
    trainer.train(policy, ref, gold, prompts, sampler);
    g = held_out_gain(policy, ref);
  }
  INFO("gold-reward gain " << g.mean << " +- " << g.se << ", KL " << g.kl);
  CHECK(g.mean > 2 * g.se);
  CHECK(g.mean > 0);
  CHECK(g.kl < kl_bound);
}

TEMPLATE_LIST_TEST_CASE("DPO on the tiny transformer raises the gold reward on held-out prompts",
                        "[dpo][train][transformer]", rlhf::test::backends) {
  using tf_lm = rlhf::transformer<TestType, rlhf::lm_head>;
  tf_lm ref(tiny, 21), policy(tiny, 21);
  count_reward gold;
  // Synthetic preferences: two samples of the reference per prompt, the one with more liked
  // tokens chosen (ties dropped), as a labeller with the gold rule would.
  std::vector<std::vector<token_id>> rows;
  for (const auto& p : random_prompts(96, 8))
    for (int j = 0; j < 2; ++j) rows.push_back(p);
  const auto s = rlhf::generate(ref, std::span<const std::vector<token_id>>(rows), sampler,
                                {.max_new_tokens = 4, .seed = 77});
  std::vector<rlhf::data::preference_example> pairs;
  for (std::size_t i = 0; i < rows.size(); i += 2) {
    const auto& a = s.sequences[i].tokens;
    const auto& b = s.sequences[i + 1].tokens;
    const double ra = gold(rows[i], a), rb = gold(rows[i], b);
    if (ra == rb) continue;
    pairs.push_back({rows[i], ra > rb ? a : b, ra > rb ? b : a});
  }
  REQUIRE(pairs.size() >= 40);
  rt::dpo_trainer<tf_lm> trainer({.optimizer = {.lr = 3e-3}, .epochs = 6, .batch_size = 16, .beta = 0.2},
                                 rlhf::loss::sigmoid(), rlhf::divergences::reverse_kl(), {.progress = false});
  trainer.train(policy, pairs, ref);
  const gain g = held_out_gain(policy, ref);
  INFO("gold-reward gain " << g.mean << " +- " << g.se << ", KL " << g.kl << ", " << pairs.size() << " pairs");
  CHECK(g.mean > 2 * g.se);
  CHECK(g.kl < 4.0);
}
