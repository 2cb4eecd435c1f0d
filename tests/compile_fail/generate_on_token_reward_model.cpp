// SPDX-License-Identifier: MIT
// MUST NOT COMPILE: sampling from a token reward model (FaRMA / GenARM). Its session rows are
// shaped like logits (V per position) but are rewards: rlhf::token_reward_rows, role
// token_rewards, so generate's language_model constraint fails.
// EXPECT: language_model
#include <vector>

#include "rlhf/backend/eigen.hpp"
#include "rlhf/decoding/generate.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/sampling.hpp"

int main() {
  rlhf::transformer<rlhf::backend::eigen, rlhf::token_reward_head> token_rm(rlhf::gpt2_config{}, 1);
  const std::vector<std::vector<rlhf::token_id>> prompts{{1, 2}};
  const auto out = rlhf::generate(token_rm, std::span<const std::vector<rlhf::token_id>>(prompts),
                                  rlhf::sampling::chain<rlhf::sampling::greedy>{}, rlhf::generate_options{});
  return static_cast<int>(out.sequences.size());
}
