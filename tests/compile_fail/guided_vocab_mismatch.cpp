// SPDX-License-Identifier: MIT
// MUST NOT COMPILE: FaRMA guidance whose token reward model has another vocabulary than the LM,
// where both sizes are known at compile time (has_static_vocab). The FaRMA reference code
// silently truncates the logits; here the composition is rejected by the compiler (and, for
// run-time sizes, by an rlhf::invalid_argument at construction: tests/unit/decoding/guided_test.cpp).
// EXPECT: different vocabularies
#include "rlhf/backend/eigen.hpp"
#include "rlhf/decoding.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/sampling.hpp"

struct lm16 : rlhf::tabular_lm<rlhf::backend::eigen> {
  static constexpr rlhf::index_t static_vocab_size = 16;
  lm16() : tabular_model(rlhf::tabular_config{.vocab_size = 16}) {}
};
struct token_rm17 : rlhf::tabular_token_reward_model<rlhf::backend::eigen> {
  static constexpr rlhf::index_t static_vocab_size = 17;
  token_rm17() : tabular_model(rlhf::tabular_config{.vocab_size = 17}) {}
};

int main() {
  lm16 lm;
  token_rm17 rm;
  rlhf::guided_decoder dec(lm, rlhf::guide::farma(rm), rlhf::sampling::chain<rlhf::sampling::greedy>{});
  return static_cast<int>(dec.guidance().vocab_size());
}
