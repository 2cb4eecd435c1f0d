// SPDX-License-Identifier: MIT
// rlhf ppo | rloo | grpo: online RL against a reward model (CLI.md), step 3 of the InstructGPT
// recipe. One function per command binds its options; all three run through run_online, which
// loads the policy, the reference and the reward model, samples with --sampler, and trains with
// the library's online trainer and the command's method (train/ppo.hpp, rloo.hpp, grpo.hpp).
// --steps counts rollouts; --batch-size is the prompts of a rollout.
#include <cstdio>
#include <limits>
#include <optional>

#include <rlhf/data.hpp>
#include <rlhf/model/from_pretrained.hpp>
#include <rlhf/sampling/any_sampler.hpp>
#include <rlhf/train.hpp>
#include <rlhf/train/grpo.hpp>
#include <rlhf/train/ppo.hpp>
#include <rlhf/train/rloo.hpp>

#include "cli.hpp"
#include "model_dir.hpp"
#include "training.hpp"

namespace rlhf::cli {

namespace {

void add_online_options(CLI::App& app, online_options& o, const std::string& what) {
  constexpr std::int64_t int_max = std::numeric_limits<std::int32_t>::max();
  describe(app, what + "\n--steps counts rollouts; --batch-size is the prompts sampled per rollout.");
  app.add_option("--policy", o.policy, "policy model directory to start from (lm head; usually the SFT model)")
      ->type_name("DIR")->required();
  app.add_option("--ref", o.ref, "reference model directory (lm head; default: --policy as loaded)")->type_name("DIR");
  app.add_option("--reward", o.reward, "reward model directory (reward head, from rlhf reward)")
      ->type_name("DIR")->required();
  app.add_option("--prompts", o.prompts, "JSONL prompts (prompt or prompt_ids)")->type_name("FILE")->required();
  app.add_option("--out", o.out, "policy directory to write (written atomically)")->type_name("DIR")->required();
  app.add_option("--sampler", o.sampler, "how responses are sampled, e.g. \"temperature=1\" or \"top_k=40,top_p=0.9\"")
      ->type_name("SPEC");
  app.add_option("--samples", o.samples, "responses per prompt")->type_name("K")->check(range<std::int64_t>(1, 1 << 16));
  app.add_option("--ppo-epochs", o.ppo_epochs, "passes over each rollout")->type_name("N")->check(range<std::int64_t>(1, 1000));
  app.add_option("--minibatches", o.minibatches, "optimizer steps per pass")->type_name("N")->check(range<std::int64_t>(1, 1 << 16));
  app.add_option("--max-new-tokens", o.max_new_tokens, "response budget")->type_name("N")->check(range<std::int64_t>(1, int_max));
  app.add_option("--min-new-tokens", o.min_new_tokens, "EOS banned before this many tokens")
      ->type_name("N")->check(range<std::int64_t>(0, int_max));
  app.add_option("--kl-coef", o.kl_coef, "beta of the KL penalty (the start under --target-kl)")
      ->type_name("X")->check(range<double>(0.0, 1e6));
  app.add_option("--kl-estimator", o.kl_estimator, "per-token KL estimate (k1 gives the exact gradient)")
      ->check(one_of({"k1", "k2", "k3"}));
  app.add_option("--target-kl", o.target_kl, "adaptive beta toward this KL per response (0 = fixed beta)")
      ->type_name("X")->check(range<double>(0.0, 1e6));
  app.add_option("--clip-range", o.clip_range, "epsilon of the clipped surrogate")
      ->type_name("X")->check(range<double>(0.0, 0.99, true));
  app.add_option("--missing-eos-penalty", o.missing_eos_penalty, "subtracted from the score of a response without EOS")
      ->type_name("X")->check(range<double>(0.0, 1e6));
  app.add_option("--reward-clip", o.reward_clip, "clip scores to [-X, X] (0 = off)")->type_name("X")->check(range<double>(0.0, 1e6));
  app.add_flag("--normalize-rewards", o.normalize_rewards, "standardise scores by running mean and std");
  add_training_options(app, o.train);
}

template <class Method>
rlhf::train::rollout_config rollout_settings(const online_options& o, token_id pad, token_id eos) {
  const training_options& t = o.train;
  return {.optimizer = optimizer_settings(t),
          .rollouts = t.steps > 0 ? t.steps : 10,
          .prompts_per_rollout = t.batch_size,
          .samples_per_prompt = o.samples,
          .epochs = o.ppo_epochs,
          .minibatches = o.minibatches,
          .max_new_tokens = o.max_new_tokens,
          .min_new_tokens = o.min_new_tokens,
          .eos_id = eos,
          .threads = t.threads,
          .kl_coef = o.kl_coef,
          .estimator = rlhf::parse_kl_estimator(o.kl_estimator),
          .target_kl = o.target_kl,
          .clip_eps = o.clip_range,
          .missing_eos_penalty = o.missing_eos_penalty,
          .reward_clip = o.reward_clip,
          .normalize_rewards = o.normalize_rewards,
          .seed = t.seed,
          .pad_id = pad};
}

/// What every online command does around its trainer: models, prompts, sampler, the save.
/// `train(policy, ref, reward, prompts, sampler, cfg) -> loop_result` runs the method.
template <class Train>
int run_online(const online_options& o, const char* name, Train&& train) {
  set_threads(o.train.threads);
  output_directory out(o.out);
  auto [policy, tok] = open_policy(o.policy);
  auto [ref, ref_tok] = open_policy(o.ref.empty() ? o.policy : o.ref);
  if (!o.ref.empty()) rlhf::expect_same_tokenizer(o.policy, o.ref);
  auto [reward, reward_tok] = open_model<rlhf::scalar_head>(o.reward, rlhf::head_kind::reward);
  rlhf::expect_same_tokenizer(o.policy, o.reward);
  (void)ref_tok;
  (void)reward_tok;
  const auto records = rlhf::data::load_prompts(o.prompts, tok);
  std::vector<std::vector<token_id>> prompts;
  for (const auto& r : records) prompts.push_back(r.prompt_ids);
  const auto sampler = rlhf::sampling::any_sampler::parse(o.sampler);
  const auto cfg = rollout_settings<void>(o, pad_id_of(tok), tok.eos_id());
  const rlhf::train::loop_result result = train(policy, ref, reward, prompts, sampler, cfg);
  nlohmann::json run = {{"command", name},          {"prompts", o.prompts.string()}, {"reward", o.reward.string()},
                        {"rollouts", cfg.rollouts}, {"steps", result.steps},         {"kl_coef", o.kl_coef},
                        {"first_loss", result.first_loss}, {"last_loss", result.last_loss}, {"seconds", result.seconds}};
  auto history = rlhf::read_model_info(o.policy).history;
  history.push_back(run);
  if (writes_outputs()) rlhf::save_model(o.out, policy, rlhf::head_kind::lm, history, {.extra_files = rlhf::io::tokenizer_files(o.policy)});
  out.keep();
  std::fprintf(stderr, "rlhf %s: %lld rollouts, %lld optimizer steps, %.1fs; wrote %s\n", name,
               static_cast<long long>(cfg.rollouts), static_cast<long long>(result.steps), result.seconds, o.out.c_str());
  if (o.train.json) print_json_line({{"event", "done"}, {"run", run}});
  return 0;
}

using reward_model_t = gpt2<rlhf::scalar_head>;
using sampler_t = rlhf::sampling::any_sampler;

}  // namespace

void add_ppo_options(CLI::App& app, ppo_options& o) {
  add_online_options(app, o.online, "PPO with a KL penalty to the reference (InstructGPT): GAE with a critic, whitened\n"
                                    "advantages, clipped surrogate and clipped value loss.");
  app.add_option("--critic-init", o.critic_init, "the critic starts from the reward model or the policy's trunk")
      ->check(one_of({"reward", "policy"}));
  app.add_option("--critic-lr", o.critic_lr, "the critic's learning rate (0 = --lr)")->type_name("X")->check(range<double>(0.0, 10.0));
  app.add_option("--gamma", o.gamma, "discount")->type_name("X")->check(range<double>(0.0, 1.0));
  app.add_option("--lam", o.lam, "GAE lambda")->type_name("X")->check(range<double>(0.0, 1.0));
  app.add_option("--value-clip", o.value_clip, "epsilon of the clipped value loss")->type_name("X")->check(positive<double>());
  app.add_option("--critic-out", o.critic_out, "also write the trained critic here (value head)")->type_name("DIR");
}

int run_ppo(const ppo_options& o) {
  return run_online(o.online, "ppo", [&](policy_t& policy, policy_t& ref, reward_model_t& reward, const auto& prompts,
                                         const sampler_t& sampler, const rlhf::train::rollout_config& cfg) {
    auto critic = o.critic_init == "reward"
                      ? load_model<rlhf::scalar_head>(o.online.reward, rlhf::head_kind::reward)
                      : std::move(rlhf::from_pretrained<backend_t, rlhf::scalar_head>(o.online.policy, o.online.train.seed).model);
    rlhf::train::ppo_options ppo{.gamma = o.gamma, .lambda = o.lam, .value_clip = o.value_clip,
                                 .critic_optimizer = cfg.optimizer};
    if (o.critic_lr > 0) ppo.critic_optimizer.lr = o.critic_lr;
    rlhf::train::ppo_trainer<policy_t, reward_model_t, reward_model_t> trainer(
        cfg, ppo, loop_settings(o.online.train, "ppo", o.online.out, rlhf::head_kind::lm));
    if (!o.online.train.resume.empty()) trainer.resume(policy, critic, o.online.train.resume);
    auto result = trainer.train(policy, critic, ref, reward, prompts, sampler);
    if (!o.critic_out.empty() && writes_outputs()) rlhf::save_model(o.critic_out, critic, rlhf::head_kind::value, {},
                                                {.extra_files = rlhf::io::tokenizer_files(o.online.policy)});
    return result;
  });
}

void add_rloo_options(CLI::App& app, rloo_options& o) {
  o.online.samples = 4;
  add_online_options(app, o.online, "RLOO: REINFORCE with a leave-one-out baseline over --samples responses per prompt,\n"
                                    "the KL penalty in the reward; no critic.");
}

int run_rloo(const rloo_options& o) {
  return run_online(o.online, "rloo", [&](policy_t& policy, policy_t& ref, reward_model_t& reward, const auto& prompts,
                                          const sampler_t& sampler, const rlhf::train::rollout_config& cfg) {
    rlhf::train::rloo_trainer<policy_t> trainer(cfg, {}, loop_settings(o.online.train, "rloo", o.online.out, rlhf::head_kind::lm));
    if (!o.online.train.resume.empty()) trainer.resume(policy, o.online.train.resume);
    return trainer.train(policy, ref, reward, prompts, sampler);
  });
}

void add_grpo_options(CLI::App& app, grpo_options& o) {
  o.online.samples = 4;
  add_online_options(app, o.online, "GRPO: group-normalised advantages over --samples responses per prompt and a k3 KL\n"
                                    "loss term; no critic.");
  app.add_flag("--no-std-scale", o.no_std_scale, "advantages r - mean without the division by the group's std");
  app.add_flag("--kl-in-reward", o.kl_in_reward, "the KL penalty (--kl-estimator) in the reward instead of the loss");
}

int run_grpo(const grpo_options& o) {
  return run_online(o.online, "grpo", [&](policy_t& policy, policy_t& ref, reward_model_t& reward, const auto& prompts,
                                          const sampler_t& sampler, const rlhf::train::rollout_config& cfg) {
    rlhf::train::grpo_trainer<policy_t> trainer(
        cfg, rlhf::train::grpo_method({.scale_by_std = !o.no_std_scale, .kl_in_reward = o.kl_in_reward}),
        loop_settings(o.online.train, "grpo", o.online.out, rlhf::head_kind::lm));
    if (!o.online.train.resume.empty()) trainer.resume(policy, o.online.train.resume);
    return trainer.train(policy, ref, reward, prompts, sampler);
  });
}

}  // namespace rlhf::cli
