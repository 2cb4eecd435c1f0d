// SPDX-License-Identifier: MIT
// MUST NOT COMPILE: a reward model where DPO's reference log-probs are read (log π_ref(y|x)).
// EXPECT: language_model
#include "rlhf/backend/eigen.hpp"
#include "rlhf/model/response_log_probs.hpp"
#include "rlhf/model/transformer.hpp"

int main() {
  rlhf::transformer<rlhf::backend::eigen, rlhf::scalar_head> reward_model(rlhf::gpt2_config{}, 1);
  const rlhf::token_batch batch;
  return static_cast<int>(rlhf::response_log_probs(reward_model, batch).size());
}
