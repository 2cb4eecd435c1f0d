// SPDX-License-Identifier: MIT
// MUST NOT COMPILE: a scalar-head transformer (a reward model / critic) decoded as a language
// model. Its role is model_role::values and its session returns rlhf::value_rows, not logits.
// EXPECT: language_model
#include "rlhf/backend/eigen.hpp"
#include "rlhf/model/transformer.hpp"

template <rlhf::language_model Policy>
void decode_with(Policy& policy) {
  auto session = policy.start_session(1, 8);
  (void)session;
}

int main() {
  rlhf::transformer<rlhf::backend::eigen, rlhf::scalar_head> reward_model(rlhf::gpt2_config{}, 1);
  decode_with(reward_model);  // error: the constraints of language_model are not satisfied
}
