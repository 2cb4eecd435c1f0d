// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// PPO with a KL penalty, as InstructGPT trains its policy (Ouyang et al. 2022, §3.5 and eq. 2;
/// Ziegler et al. 2019; Schulman et al. 2017; ALGORITHMS.md §3), on the online trainer of
/// rollout.hpp: per-token rewards R_t = -β k(ℓ_t) plus the reward model's score at the last token
/// (objective/kl_penalty.hpp), GAE with a critic (objective/gae.hpp), advantages whitened over
/// the rollout, the clipped surrogate for the policy and the clipped value loss for the critic
/// (objective/value_loss.hpp), several epochs of minibatches per rollout.
///
/// The critic V(s, a^{<t}) is a value model (backbone + scalar head at every position) read at
/// the position before each response token; it is trained in step with the policy, one critic
/// optimizer step per policy step, by its own training loop (training_loop::update), and is
/// usually initialised from the reward model or the SFT model (the `rlhf ppo --critic-init`
/// option).
#include <filesystem>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xtensor.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/data/response_view.hpp"
#include "rlhf/model/compatibility.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/objective/concepts.hpp"
#include "rlhf/objective/gae.hpp"
#include "rlhf/objective/kl_penalty.hpp"
#include "rlhf/objective/reverse_kl.hpp"
#include "rlhf/objective/value_loss.hpp"
#include "rlhf/objective/whiten.hpp"
#include "rlhf/train/rollout.hpp"
#include "rlhf/train/training_loop.hpp"

namespace rlhf::train {

/// A model PPO can train as its critic: a differentiable value model (tabular_critic,
/// transformer<Backend, scalar_head>).
template <class M>
concept critic_model = value_model<M> && differentiable_model<M>;

/// PPO's own settings (beyond rollout_config).
struct ppo_options {
  double gamma = 1.0;            ///< discount γ (1: the episode is one response)
  double lambda = 0.95;          ///< GAE λ
  double value_clip = 0.2;       ///< ε_v of the clipped value loss (+inf: off)
  bool whiten_advantages = true; ///< advantages standardised over the rollout
  optimizer_config critic_optimizer{};  ///< the critic's optimizer (--critic-lr, ...)

  /// @throws rlhf::invalid_argument naming the option
  void validate() const {
    RLHF_EXPECTS(gamma >= 0 && gamma <= 1, "ppo: --gamma must be in [0, 1] (got ", gamma, ")");
    RLHF_EXPECTS(lambda >= 0 && lambda <= 1, "ppo: --lam must be in [0, 1] (got ", lambda, ")");
    RLHF_EXPECTS(value_clip > 0, "ppo: --value-clip must be > 0 (got ", value_clip, ")");
    critic_optimizer.validate("ppo critic");
  }
};

/// PPO's advantage policy for online_trainer (rollout.hpp): GAE on the KL-penalised per-token
/// rewards with the critic's values, and the critic's update on every minibatch.
template <critic_model Critic>
class ppo_method {
 public:
  static constexpr std::string_view name = "ppo";
  static constexpr index_t min_samples = 1;

  /// `comm`: the processes the policy trains on (data parallelism); the critic trains on the same.
  explicit ppo_method(ppo_options options, dist::any_communicator comm = dist::world())
      : options_((options.validate(), options)),
        critic_loop_(options.critic_optimizer,
                     {.name = "critic", .progress = false, .max_bad_steps = 0, .comm = std::move(comm)}) {}

  const ppo_options& options() const noexcept { return options_; }
  training_loop<Critic>& critic_loop() noexcept { return critic_loop_; }
  /// The critic the next train() updates (set by ppo_trainer).
  void bind(Critic& critic) noexcept { critic_ = &critic; }

  template <class Policy>
  void check(const Policy& policy) const {
    RLHF_EXPECTS(critic_ != nullptr, "ppo: no critic bound");
    expect_same_vocabulary(policy, "policy", *critic_, "critic");
  }

  /// V_old at the position before each response token, the penalised rewards, GAE, whitening.
  void advantages(rollout_buffer& buf, double beta, const rollout_config& cfg) {
    const auto all = buf.all_rows();
    buf.old_values.clear();
    for (std::size_t i = 0; i < all.size(); i += static_cast<std::size_t>(cfg.generation_batch)) {
      const auto idx = std::span<const std::size_t>(all).subspan(
          i, std::min(all.size() - i, static_cast<std::size_t>(cfg.generation_batch)));
      const auto batch = buf.collate(idx, cfg.pad_id);
      const data::response_view view(batch, data::response_alignment::before_token);
      const auto v = view.gather(critic_->score(batch));
      for (std::size_t r = 0; r < idx.size(); ++r)
        buf.old_values.emplace_back(&v(r, 0), &v(r, 0) + view.length(static_cast<index_t>(r)));
    }
    const auto lengths = buf.lengths(all);
    const auto old = rollout_buffer::matrix(buf.old_logps, all), ref = rollout_buffer::matrix(buf.ref_logps, all);
    const auto values = rollout_buffer::matrix(buf.old_values, all);
    const kl_penalty_result pen = kl_penalized_rewards(old, ref, lengths, buf.scores, beta, cfg.estimator);
    const gae_result g = gae(pen.rewards, values, lengths, options_.gamma, options_.lambda);
    const xt::xtensor<double, 2> adv = options_.whiten_advantages ? whiten(g.advantages, lengths) : g.advantages;
    buf.advantages.assign(all.size(), {});
    buf.returns.assign(all.size(), {});
    for (std::size_t r = 0; r < all.size(); ++r) {
      const auto n = static_cast<std::size_t>(lengths[r]);
      buf.advantages[r].assign(&adv(r, 0), &adv(r, 0) + n);
      buf.returns[r].assign(&g.returns(r, 0), &g.returns(r, 0) + n);
    }
    explained_variance_ = detail::explained_variance(buf);
  }

  /// One critic step on the minibatch's rows (policy step s of the run). `global_tokens`: the
  /// response tokens of the whole minibatch over every process (data parallelism: this process's
  /// rows `idx` may be a shard of it, or none, and the critic's loss is a mean over all of them).
  void minibatch(std::span<const std::size_t> idx, const rollout_buffer& buf, const data::response_view& view,
                 const xt::xtensor<double, 2>&, xt::xtensor<double, 2>&, index_t s, const rollout_config& cfg,
                 step_output& out, double global_tokens) {
    value_loss_result vl;
    const step_metrics m = critic_loop_.update(*critic_, s, cfg.total_steps(), [&](Critic& c, index_t) {
      step_output o;
      if (idx.empty()) return o;  // a shard without rows: it only joins the gradient sum
      const auto before = view.with_alignment(data::response_alignment::before_token);
      const auto lengths = buf.lengths(idx);
      const auto old_values = rollout_buffer::matrix(buf.old_values, idx);
      const auto returns = rollout_buffer::matrix(buf.returns, idx);
      const token_batch batch = buf.collate(idx, cfg.pad_id);
      auto values = c.forward(batch);
      vl = clipped_value_loss(before.gather(values), old_values, returns, lengths, options_.value_clip);
      const double share = global_tokens > 0 ? static_cast<double>(vl.tokens) / global_tokens : 0.0;
      using out_t = decltype(values);
      c.backward(before.template scatter<typename out_t::value_type>(xt::xtensor<double, 2>(vl.grad * share)));
      o.loss = vl.loss * share;
      o.tokens = vl.tokens;
      return o;
    });
    out.metrics["val/loss"] = vl.loss;
    out.metrics["val/clipfrac"] = vl.clip_fraction;
    out.metrics["val/mean_abs_error"] = vl.mean_abs_error;
    out.metrics["val/grad_norm"] = m.grad_norm;
    out.metrics["val/explained_variance"] = explained_variance_;
  }

  /// Restores the critic and its optimizer from the critic checkpoint beside `checkpoint`.
  void resume(const std::filesystem::path& checkpoint, index_t) {
    critic_loop_.resume(*critic_, critic_checkpoint(checkpoint));
  }
  /// Saves the critic's checkpoint for the policy checkpoint `checkpoint`.
  void save(const std::filesystem::path& checkpoint) { critic_loop_.save_checkpoint(*critic_, critic_checkpoint(checkpoint)); }
  /// <dir>/checkpoint-N -> <dir>/checkpoint-N-critic
  static std::filesystem::path critic_checkpoint(const std::filesystem::path& checkpoint) {
    return checkpoint.parent_path() / (checkpoint.filename().string() + "-critic");
  }

 private:
  ppo_options options_;
  training_loop<Critic> critic_loop_;
  Critic* critic_ = nullptr;
  double explained_variance_ = 0.0;
};

/// PPO with a KL penalty: `ppo_trainer<Policy, Critic, RewardModel, Divergence>` (DESIGN.md's
/// composition). The penalty is the divergence's per-sample estimator; reverse KL (estimators
/// k1, k2, k3 of rollout_config) is the one f-divergence with unbiased sample estimators from π
/// alone, so it is the only Divergence accepted. The models are passed to train(), never held.
/// Step metrics: objective/{scores, kl, rlhf_reward, entropy, kl_coef}, policy/{clipfrac,
/// approxkl, ratio}, val/{loss, clipfrac, explained_variance}, rollout/{tokens_per_second, ...}.
template <policy_model Policy, critic_model Critic, reward_source Reward, class Div = divergences::reverse_kl>
class ppo_trainer {
  static_assert(std::is_same_v<Div, divergences::reverse_kl>,
                "rlhf::train::ppo_trainer: the KL penalty needs per-sample estimators of the divergence; only "
                "divergences::reverse_kl has them (k1, k2, k3)");

 public:
  using base_type = online_trainer<Policy, ppo_method<Critic>>;

  /// @throws rlhf::invalid_argument for a setting outside its range
  ppo_trainer(const rollout_config& cfg, const ppo_options& ppo = {}, loop_options options = {})
      : ppo_trainer(cfg, ppo, options.comm, std::move(options)) {}

  ppo_trainer(const ppo_trainer&) = delete;  // the checkpoint hook refers to this object
  ppo_trainer& operator=(const ppo_trainer&) = delete;

  base_type& base() noexcept { return base_; }
  const rollout_config& config() const noexcept { return base_.config(); }
  training_loop<Policy>& loop() noexcept { return base_.loop(); }
  double kl_coef() const noexcept { return base_.kl_coef(); }
  const rollout_buffer& last_rollout() const noexcept { return base_.last_rollout(); }

  /// Runs the remaining rollouts (online_trainer::train) training `policy` and `critic`.
  template <language_model Ref, sampler Sampler, class EvalFn = no_evaluation>
  loop_result train(Policy& policy, Critic& critic, Ref& reference, Reward& reward,
                    std::span<const std::vector<token_id>> prompts, const Sampler& sampler, EvalFn&& eval = {}) {
    base_.method().bind(critic);
    return base_.train(policy, reference, reward, prompts, sampler, std::forward<EvalFn>(eval));
  }

  /// Restores the policy's checkpoint and the critic's beside it.
  nlohmann::json resume(Policy& policy, Critic& critic, const std::filesystem::path& checkpoint) {
    base_.method().bind(critic);
    return base_.resume(policy, checkpoint);
  }

 private:
  ppo_trainer(const rollout_config& cfg, const ppo_options& ppo, dist::any_communicator comm, loop_options&& options)
      : base_(cfg, ppo_method<Critic>(ppo, std::move(comm)), with_critic_saves(std::move(options))) {}

  // The critic's checkpoint is written with every policy checkpoint (checkpoint-N-critic).
  loop_options with_critic_saves(loop_options o) {
    if (o.save_every > 0) {
      auto user = std::move(o.on_step);
      o.on_step = [this, user = std::move(user), every = o.save_every, dir = o.checkpoint_dir](const step_metrics& m) {
        if (m.step % every == 0) base_.method().save(dir / ("checkpoint-" + std::to_string(m.step)));
        if (user) user(m);
      };
    }
    return o;
  }

  base_type base_;
};

}  // namespace rlhf::train
