// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// GRPO, group relative policy optimisation (Shao et al. 2024, "DeepSeekMath", §4.1; ALGORITHMS.md
/// §3), on the online trainer of rollout.hpp: k responses per prompt, advantages (r - mean)/std
/// within each prompt's group (objective/grpo.hpp) applied to every token, and the KL to the
/// reference as a loss term β/N Σ_t k3(ℓ_t) (objective/kl_loss.hpp) instead of a reward penalty;
/// no critic.
///
/// As published this has its own fixed point: E_π[∇ k3] is the gradient of KL(π_ref ‖ π), and
/// the division by the group's std rescales the reward term per prompt, so GRPO does not converge
/// to π* = π_ref exp(r/β)/Z but to grpo_stationary_point (the bandit oracle shows both). With
/// `scale_by_std = false` and `kl_in_reward = true` (the k1 penalty in the reward, as PPO and
/// RLOO) it is a mean-baseline REINFORCE whose fixed point is π*.
#include <string_view>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "rlhf/data/response_view.hpp"
#include "rlhf/objective/grpo.hpp"
#include "rlhf/objective/kl_loss.hpp"
#include "rlhf/train/rollout.hpp"

namespace rlhf::train {

/// GRPO's own settings.
struct grpo_method_options {
  bool scale_by_std = true;   ///< divide by the group's std (false: Dr. GRPO)
  bool kl_in_reward = false;  ///< false: β k3 in the loss (GRPO); true: -β k(ℓ) in the reward (k of rollout_config)
};

/// GRPO's advantage policy for online_trainer.
class grpo_method {
 public:
  static constexpr std::string_view name = "grpo";
  static constexpr index_t min_samples = 2;

  explicit grpo_method(grpo_method_options o = {}) : options_(o) {}
  const grpo_method_options& options() const noexcept { return options_; }

  template <class Policy>
  void check(const Policy&) const {}

  void advantages(rollout_buffer& buf, double beta, const rollout_config&) {
    beta_ = beta;
    std::vector<double> reward(buf.scores);
    if (options_.kl_in_reward)
      for (std::size_t r = 0; r < reward.size(); ++r) reward[r] -= beta * buf.sequence_kl[r];
    const auto adv = grpo_advantages(reward, buf.samples_per_prompt, {.scale_by_std = options_.scale_by_std});
    buf.advantages.assign(reward.size(), {});
    for (std::size_t r = 0; r < reward.size(); ++r) buf.advantages[r].assign(buf.responses[r].size(), adv[r]);
  }

  /// The in-loss KL term β/N Σ k3(log π - log π_ref).
  void minibatch(std::span<const std::size_t> idx, const rollout_buffer& buf, const data::response_view&,
                 const xt::xtensor<double, 2>& new_logps, xt::xtensor<double, 2>& d_new, index_t,
                 const rollout_config&, step_output& out, double) const {
    if (options_.kl_in_reward || idx.empty()) return;
    const auto ref = rollout_buffer::matrix(buf.ref_logps, idx);
    const kl_loss_result kl = kl_loss(new_logps, ref, buf.lengths(idx), beta_, kl_estimator::k3);
    out.loss += kl.loss;
    d_new += kl.grad;
    out.metrics["objective/kl_loss"] = kl.loss;
  }

  void resume(const std::filesystem::path&, index_t) const {}

 private:
  grpo_method_options options_;
  double beta_ = 0.0;
};

/// GRPO: online_trainer<Policy, grpo_method>; train(policy, reference, reward, prompts, sampler).
template <policy_model Policy>
using grpo_trainer = online_trainer<Policy, grpo_method>;

}  // namespace rlhf::train
