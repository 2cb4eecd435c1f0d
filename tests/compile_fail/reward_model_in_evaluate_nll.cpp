// SPDX-License-Identifier: MIT
// MUST NOT COMPILE: held-out NLL of a reward model. Its (B, T) outputs have the shape of
// per-token log-probs but are values; evaluate_nll requires a language_model.
// EXPECT: language_model
#include <vector>

#include "rlhf/backend/eigen.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/train/sft.hpp"

int main() {
  rlhf::transformer<rlhf::backend::eigen, rlhf::scalar_head> reward_model(rlhf::gpt2_config{}, 1);
  std::vector<rlhf::token_batch> batches(1);
  return static_cast<int>(rlhf::train::evaluate_nll(reward_model, std::span<const rlhf::token_batch>(batches)).tokens);
}
