// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// RLOO, REINFORCE with a leave-one-out baseline (Kool et al. 2019; Ahmadian et al. 2024, "Back
/// to Basics"; ALGORITHMS.md §3), on the online trainer of rollout.hpp: k responses per prompt,
/// each response's reward is its score minus β times its KL estimate (the penalty in the reward,
/// as TRL's RLOOTrainer), its advantage that reward minus the mean of the other k - 1
/// (objective/rloo.hpp), applied to every token of the response; no critic.
#include <string_view>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "rlhf/data/response_view.hpp"
#include "rlhf/objective/rloo.hpp"
#include "rlhf/train/rollout.hpp"

namespace rlhf::train {

/// RLOO's advantage policy for online_trainer.
struct rloo_method {
  static constexpr std::string_view name = "rloo";
  static constexpr index_t min_samples = 2;

  template <class Policy>
  void check(const Policy&) const {}

  void advantages(rollout_buffer& buf, double beta, const rollout_config&) const {
    std::vector<double> reward(buf.scores.size());
    for (std::size_t r = 0; r < reward.size(); ++r) reward[r] = buf.scores[r] - beta * buf.sequence_kl[r];
    const auto adv = rloo_advantages(reward, buf.samples_per_prompt);
    buf.advantages.assign(reward.size(), {});
    for (std::size_t r = 0; r < reward.size(); ++r) buf.advantages[r].assign(buf.responses[r].size(), adv[r]);
  }

  void minibatch(std::span<const std::size_t>, const rollout_buffer&, const data::response_view&,
                 const xt::xtensor<double, 2>&, xt::xtensor<double, 2>&, index_t, const rollout_config&,
                 step_output&, double) const {}

  void resume(const std::filesystem::path&, index_t) const {}
};

/// RLOO: online_trainer<Policy, rloo_method>; train(policy, reference, reward, prompts, sampler).
template <policy_model Policy>
using rloo_trainer = online_trainer<Policy, rloo_method>;

}  // namespace rlhf::train
