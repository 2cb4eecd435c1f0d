// SPDX-License-Identifier: MIT
// MUST NOT COMPILE: PPO's KL penalty needs per-sample estimators, which only reverse KL has.
// EXPECT: only divergences::reverse_kl has them
#include <span>

#include "rlhf/backend/eigen.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/objective/forward_kl.hpp"
#include "rlhf/train/ppo.hpp"

struct gold {
  double operator()(std::span<const rlhf::token_id>, std::span<const rlhf::token_id>) const { return 0; }
};

int main() {
  using lm = rlhf::tabular_lm<rlhf::backend::eigen>;
  using critic = rlhf::tabular_critic<rlhf::backend::eigen>;
  rlhf::train::ppo_trainer<lm, critic, gold, rlhf::divergences::forward_kl> trainer({});
  return 0;
}
