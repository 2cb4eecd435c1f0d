// SPDX-License-Identifier: MIT
// A sampler stage of your own (docs/concepts/sampling.md): epsilon sampling (Hewitt, Manning &
// Liang 2022, "Truncation Sampling as Language Model Desmoothing") drops every token whose
// probability is below ε, always keeping the most likely one. A stage is a `logit_processor`: an
// opt-in tag and `apply(candidates&)`. Put it in a `sampling::chain` before the selector and the
// chain is a `rlhf::sampler` that `generate`, the trainers' rollouts and every reward-guided
// decoder accept.
//
// The check: 64 sequences from a random bigram model; with the stage no token below ε is ever
// drawn (measured on the model's own log-probs, which generate returns), without it some are.
#include <cmath>
#include <cstdio>
#include <vector>

#include <rlhf/rlhf.hpp>

/// Keeps the candidates with probability ≥ ε (and the argmax, so the set is never empty).
class epsilon_cutoff {
 public:
  using rlhf_concept = rlhf::logit_processor_tag;
  explicit epsilon_cutoff(double eps) : log_eps_(std::log(eps)) {}

  void apply(rlhf::sampling::candidates& c) const {
    const double cut = c.log_normalizer() + log_eps_;  // log p ≥ log ε  ⇔  logit ≥ log Z + log ε
    const rlhf::index_t best = c.argmax();
    // keep_if keeps the relative order, so a sorted set stays sorted (the flag stays true).
    c.keep_if([&](rlhf::index_t i) { return i == best || c.logit(i) >= cut; });
  }

 private:
  double log_eps_;
};
static_assert(rlhf::logit_processor<epsilon_cutoff>);

int main() {
  constexpr double eps = 0.03;
  using lm_t = rlhf::tabular_lm<rlhf::backend::default_backend>;
  lm_t lm({.vocab_size = 32, .max_positions = 40, .init_std = 1.5}, /*seed=*/11);  // a random bigram model
  const std::vector<std::vector<rlhf::token_id>> prompts(64, {0});
  const rlhf::generate_options opt{.max_new_tokens = 32, .seed = 5};

  // The chain's type says what it does; the compiler checks the processors-then-selector order.
  const rlhf::sampling::chain with_cut{epsilon_cutoff{eps}, rlhf::sampling::categorical{}};
  const rlhf::sampling::chain without{rlhf::sampling::categorical{}};

  const auto below_eps = [&](const rlhf::generate_result& g) {  // tokens drawn with model probability < ε
    long n = 0;
    for (const auto& s : g.sequences)
      for (float lp : s.model_logprobs) n += lp < std::log(eps) - 1e-6;
    return n;
  };
  const long cut = below_eps(rlhf::generate(lm, prompts, with_cut, opt));
  const long plain = below_eps(rlhf::generate(lm, prompts, without, opt));
  std::printf("tokens drawn with probability < %.2f out of %d: epsilon sampling %ld, plain sampling %ld\n", eps,
              64 * 32, cut, plain);
  return cut == 0 && plain > 0 ? 0 : 1;
}
