// SPDX-License-Identifier: MIT
// An experiment configured at compile time: the loss, the divergence, the sampler and the backend
// are four type aliases. Change one and recompile; a combination that does not fit (a sampler
// chain ending in a processor, a divergence without f′) is a compile error, not a run-time surprise.
// Exits 0 when the aligned policy's samples earn more reward than π_ref's.
#include <cstdio>

#include <rlhf/rlhf.hpp>
#include <rlhf/train/dpo.hpp>

#include "bandit.hpp"

namespace rs = rlhf::sampling;
using backend = rlhf::backend::eigen;      // or rlhf::backend::thrust_host (link rlhf::thrust)
using loss = rlhf::loss::ipo;              // sigmoid, hinge, ipo, conservative, robust
using divergence = rlhf::divergences::js;  // reverse_kl, forward_kl, js, alpha
using sampler = rs::chain<rs::top_k, rs::temperature, rs::categorical>;

int main() {
  const auto b = example::bandit<backend>::make();
  const auto pairs = b.exact_pairs();
  auto policy = b.reference(), ref = b.reference();
  rlhf::train::dpo_trainer<decltype(policy), loss, divergence> dpo(
      {.optimizer = {.lr = 0.05}, .steps = 300, .batch_size = static_cast<rlhf::index_t>(pairs.size()), .beta = 0.5},
      loss{}, divergence{}, {.progress = false});
  dpo.train(policy, pairs, ref);

  const sampler s{rs::top_k{4}, rs::temperature{0.8}, rs::categorical{}};
  std::vector<std::vector<rlhf::token_id>> prompts(600);
  for (std::size_t i = 0; i < prompts.size(); ++i) prompts[i] = {static_cast<rlhf::token_id>(i % 3)};
  const auto mean_reward = [&](auto& lm) {
    const auto out = rlhf::generate(lm, prompts, s, {.max_new_tokens = 1, .seed = 1});
    double r = 0;
    for (std::size_t i = 0; i < prompts.size(); ++i) r += b.reward[i % 3][out.sequences[i].tokens[0]];
    return r / static_cast<double>(prompts.size());
  };
  const double aligned = mean_reward(policy), before = mean_reward(ref);
  std::printf("mean reward of samples: pi_ref %.3f, DPO (ipo loss, JS divergence) %.3f\n", before, aligned);
  return aligned > before ? 0 : 1;
}
