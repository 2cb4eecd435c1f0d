// SPDX-License-Identifier: MIT
// MUST NOT COMPILE: DPO trains a policy; a reward model (scalar head) is not one.
// EXPECT: policy_model
#include "rlhf/backend/eigen.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/train/dpo.hpp"

int main() {
  rlhf::train::dpo_trainer<rlhf::transformer<rlhf::backend::eigen, rlhf::scalar_head>> trainer({});
  return 0;
}
