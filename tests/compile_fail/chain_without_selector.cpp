// SPDX-License-Identifier: MIT
// Must NOT compile: a sampler chain whose last stage is a logit processor, not a selector.
// Expected diagnostic: "rlhf::sampling::chain: the last stage must be a selector ...".
// EXPECT: last stage must be a selector
#include "rlhf/sampling.hpp"

int main() {
  rlhf::sampling::chain<rlhf::sampling::top_k, rlhf::sampling::temperature> c{
      rlhf::sampling::top_k{40}, rlhf::sampling::temperature{0.7}};
  rlhf::sampling::candidates cands(std::vector<float>{1.f, 2.f});
  return c.sample(cands, rlhf::counter_rng{0, 0}, 0).token;
}
