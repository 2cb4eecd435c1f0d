// SPDX-License-Identifier: MIT
// The seed's central derivation, proven on a bandit (ALGORITHMS.md §3–4): prompts × actions with a
// known reward r(s, a), a reference policy π_ref (a tabular_lm), and the closed form of
// KL-regularised reward maximisation
//     π*(a|s) = π_ref(a|s) exp(r(s,a)/β) / Z(s).
// DPO (sigmoid loss) on the exact Bradley–Terry preferences σ(r(a) − r(b)), PPO with the k1
// penalty in the reward, and RLOO with the same penalty each converge to π*, through the same
// trainers the transformer uses. GRPO as published (std-normalised advantages, a k3 loss term)
// converges elsewhere — to its own stationary point, solved here numerically — and with std
// normalisation off and the k1 penalty in the reward it reaches π* too. Each f-divergence DPO
// variant reaches the closed form of its divergence.
//
// Prints a table for one prompt, then one JSON line; exits 0 only when every KL is <= 1e-3.
#include <cmath>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <rlhf/rlhf.hpp>
#include <rlhf/train/dpo.hpp>
#include <rlhf/train/grpo.hpp>
#include <rlhf/train/ppo.hpp>
#include <rlhf/train/rloo.hpp>

#include "bandit.hpp"

namespace {

using backend = rlhf::backend::default_backend;
using bandit = example::bandit<backend>;
using lm_t = bandit::lm_t;
using critic_t = rlhf::tabular_critic<backend>;
namespace rt = rlhf::train;

constexpr rlhf::index_t prompts = 3, actions = 6;
constexpr double beta = 0.5;

/// DPO with divergence `div` on every pair (a, b) of every prompt, labelled by P(a ≻ b).
template <class Div>
lm_t run_dpo(const bandit& b, Div div) {
  const auto pairs = b.exact_pairs();
  lm_t policy = b.reference(), ref = b.reference();
  rt::dpo_trainer<lm_t, rlhf::loss::sigmoid, Div> trainer(
      {.optimizer = {.lr = 0.05, .min_lr = 1e-4, .max_grad_norm = 0.0},
       .steps = 600,
       .batch_size = static_cast<rlhf::index_t>(pairs.size()),
       .beta = beta},
      rlhf::loss::sigmoid(), div, {.progress = false});
  trainer.train(policy, pairs, ref);
  return policy;
}

rt::rollout_config online_config(rlhf::index_t prompts_per_rollout, rlhf::index_t k, rlhf::index_t rollouts = 200) {
  return {.optimizer = {.lr = 0.05, .min_lr = 0.0, .max_grad_norm = 0.0},
          .rollouts = rollouts,
          .prompts_per_rollout = prompts_per_rollout,
          .samples_per_prompt = k,
          .max_new_tokens = 1,
          .generation_batch = 256,
          .kl_coef = beta,
          .estimator = rlhf::kl_estimator::k1,
          .seed = 7};
}

}  // namespace

int main() {
  const bandit b = bandit::make(prompts, actions);
  const auto sampler = rlhf::sampling::any_sampler::parse("");
  const auto prompt_ids = b.prompt_ids();
  const auto gold = b.gold();
  const auto optimum = [&](rlhf::index_t s) { return b.optimum(s, beta); };
  nlohmann::json result;

  // DPO, every divergence: each against the closed form of its own divergence.
  const lm_t dpo = run_dpo(b, rlhf::divergences::reverse_kl{});
  result["dpo_kl_to_optimal"] = b.kl_to(dpo, optimum);
  const auto f_optimum = [&](auto div) {
    return [&b, div](rlhf::index_t s) { return rlhf::f_divergence_optimum(b.ref[s], b.reward[s], beta, div); };
  };
  result["dpo_forward_kl_kl_to_optimal"] =
      b.kl_to(run_dpo(b, rlhf::divergences::forward_kl{}), f_optimum(rlhf::divergences::forward_kl{}));
  result["dpo_js_kl_to_optimal"] = b.kl_to(run_dpo(b, rlhf::divergences::js{}), f_optimum(rlhf::divergences::js{}));
  result["dpo_alpha_0.5_kl_to_optimal"] =
      b.kl_to(run_dpo(b, rlhf::divergences::alpha{0.5}), f_optimum(rlhf::divergences::alpha{0.5}));

  // PPO: one response per prompt sample, 256 samples of each prompt per rollout, a tabular critic.
  lm_t ppo = b.reference(), ref = b.reference();
  {
    critic_t critic({.vocab_size = actions, .context = rlhf::tabular_context::bandit, .n_contexts = prompts,
                     .max_positions = 4});
    std::vector<std::vector<rlhf::token_id>> many;
    for (int i = 0; i < 256; ++i)
      for (const auto& p : prompt_ids) many.push_back(p);
    rt::ppo_trainer<lm_t, critic_t, decltype(gold)> trainer(
        online_config(static_cast<rlhf::index_t>(many.size()), 1),
        {.lambda = 1.0, .critic_optimizer = {.lr = 0.1, .max_grad_norm = 0.0}}, {.progress = false});
    trainer.train(ppo, critic, ref, gold, many, sampler);
  }
  result["ppo_kl_to_optimal"] = b.kl_to(ppo, optimum);

  // RLOO and GRPO: k = 256 responses per prompt.
  lm_t rloo = b.reference();
  {
    rt::rloo_trainer<lm_t> trainer(online_config(prompts, 256), {}, {.progress = false});
    trainer.train(rloo, ref, gold, prompt_ids, sampler);
  }
  result["rloo_kl_to_optimal"] = b.kl_to(rloo, optimum);

  lm_t grpo = b.reference();
  {
    // GRPO's sampling noise does not vanish at its fixed point (π* is where PPO's and RLOO's
    // penalised rewards become constant): more rollouts for the same accuracy.
    rt::grpo_trainer<lm_t> trainer(online_config(prompts, 256, 500), rt::grpo_method{}, {.progress = false});
    trainer.train(grpo, ref, gold, prompt_ids, sampler);
  }
  const auto grpo_point = [&](rlhf::index_t s) { return rlhf::grpo_stationary_point(b.ref[s], b.reward[s], beta); };
  result["grpo_kl_to_optimal"] = b.kl_to(grpo, optimum);
  result["grpo_kl_to_stationary_point"] = b.kl_to(grpo, grpo_point);

  lm_t grpo_k1 = b.reference();
  {
    rt::grpo_trainer<lm_t> trainer(online_config(prompts, 256),
                                   rt::grpo_method({.scale_by_std = false, .kl_in_reward = true}), {.progress = false});
    trainer.train(grpo_k1, ref, gold, prompt_ids, sampler);
  }
  result["grpo_unscaled_k1_kl_to_optimal"] = b.kl_to(grpo_k1, optimum);

  // The table for prompt 0: probabilities.
  const auto probs = [](const std::vector<double>& logp) {
    std::string s;
    char buf[16];
    for (double x : logp) {
      std::snprintf(buf, sizeof buf, " %6.3f", std::exp(x));
      s += buf;
    }
    return s;
  };
  std::printf("prompt 0, beta = %.2f        actions:%s\n", beta, "      0      1      2      3      4      5");
  std::printf("reward                      %s\n", [&] {
    std::string s;
    char buf[16];
    for (double x : b.reward[0]) {
      std::snprintf(buf, sizeof buf, " %6.3f", x);
      s += buf;
    }
    return s;
  }().c_str());
  std::printf("pi_ref                      %s\n", probs(b.ref[0]).c_str());
  std::printf("pi* (closed form)           %s\n", probs(b.optimum(0, beta)).c_str());
  std::printf("DPO (sigmoid, reverse KL)   %s\n", probs(bandit::row(dpo, 0)).c_str());
  std::printf("PPO (k1 penalty)            %s\n", probs(bandit::row(ppo, 0)).c_str());
  std::printf("RLOO (k1 penalty)           %s\n", probs(bandit::row(rloo, 0)).c_str());
  std::printf("GRPO (std, k3 loss)         %s\n", probs(bandit::row(grpo, 0)).c_str());
  std::printf("GRPO stationary point       %s\n", probs(grpo_point(0)).c_str());
  std::printf("GRPO (no std, k1 penalty)   %s\n", probs(bandit::row(grpo_k1, 0)).c_str());
  std::printf("%s\n", result.dump().c_str());

  bool ok = true;
  for (const char* key : {"dpo_kl_to_optimal", "dpo_forward_kl_kl_to_optimal", "dpo_js_kl_to_optimal",
                          "dpo_alpha_0.5_kl_to_optimal", "ppo_kl_to_optimal", "rloo_kl_to_optimal",
                          "grpo_kl_to_stationary_point", "grpo_unscaled_k1_kl_to_optimal"})
    if (!(result[key].get<double>() <= 1e-3)) {
      std::fprintf(stderr, "bandit_closed_form: %s = %g exceeds 1e-3\n", key, result[key].get<double>());
      ok = false;
    }
  return ok ? 0 : 1;
}
