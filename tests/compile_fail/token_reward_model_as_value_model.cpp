// SPDX-License-Identifier: MIT
// MUST NOT COMPILE: a token reward model (V rewards per position) where a value model (one
// number per position: reward, critic, CD value) is required.
// EXPECT: value_model
#include "rlhf/backend/eigen.hpp"
#include "rlhf/model/sequence_rewards.hpp"
#include "rlhf/model/transformer.hpp"

int main() {
  rlhf::transformer<rlhf::backend::eigen, rlhf::token_reward_head> token_rm(rlhf::gpt2_config{}, 1);
  const rlhf::token_batch batch;
  return static_cast<int>(rlhf::sequence_rewards(token_rm, batch).size());
}
