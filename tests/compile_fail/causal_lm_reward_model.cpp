// SPDX-License-Identifier: MIT
// MUST NOT COMPILE: a scalar-head transformer (a reward model / critic) where a causal LM is
// required. Its session returns values (rlhf::value_rows), not next-token logits, so it does not
// model rlhf::causal_lm and the constraint fails with one short note naming causal_lm.
#include "rlhf/backend.hpp"
#include "rlhf/model/transformer.hpp"

template <rlhf::causal_lm Policy>
void decode_with(Policy& policy) {
  auto session = policy.start_session(1, 8);
  (void)session;
}

int main() {
  rlhf::transformer<rlhf::backend::eigen, rlhf::scalar_head> reward_model(rlhf::gpt2_config{}, 1);
  decode_with(reward_model);  // error: the constraints of causal_lm are not satisfied
}
