// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Repetition penalty of CTRL (Keskar et al. 2019, "CTRL: A Conditional Transformer Language
/// Model for Controllable Generation", §4.1): every token already present in the sequence
/// (prompt and generated tokens, as Hugging Face and vLLM apply it) has its logit divided by
/// θ when positive and multiplied by θ when negative, so θ > 1 always lowers it. No-op: θ = 1.
/// Stateful: `observe_prompt` and `accept` record tokens, `reset` forgets them.
#include <cmath>
#include <limits>
#include <span>
#include <vector>

#include "rlhf/sampling/concepts.hpp"

namespace rlhf::sampling {

/// CTRL's penalty on tokens that already occur in the prompt or the generated text.
/// @throws rlhf::invalid_argument when θ <= 0 or not finite.
class repetition_penalty {
 public:
  using rlhf_concept = logit_processor_tag;

  explicit repetition_penalty(double theta = 1.0) : theta_(static_cast<float>(theta)) {
    RLHF_EXPECTS(detail::finite(theta) && theta >= std::numeric_limits<float>::min() &&
                     theta <= std::numeric_limits<float>::max(),
                 "repetition_penalty: theta = ", theta,
                 " is outside the allowed range [1.2e-38, 3.4e38]; use 1 to disable, > 1 to discourage repeats");
  }
  double value() const noexcept { return theta_; }

  void observe_prompt(std::span<const token_id> prompt) {
    for (token_id t : prompt) accept(t);
  }
  void accept(token_id t) {
    if (t < 0) return;
    const auto u = static_cast<std::size_t>(t);
    if (u >= seen_.size()) seen_.resize(u + 1, 0);
    if (!seen_[u]) {
      seen_[u] = 1;
      list_.push_back(t);
    }
  }
  void reset() {
    for (token_id t : list_) seen_[static_cast<std::size_t>(t)] = 0;
    list_.clear();
  }

  void apply(candidates& c) const {
    if (theta_ == 1.0f || list_.empty()) return;
    auto l = c.logits();
    for (token_id t : list_) {
      const index_t i = c.locate(t);
      if (i < 0) continue;
      float& x = l[static_cast<std::size_t>(i)];
      x = x > 0.0f ? x / theta_ : x * theta_;
    }
    c.set_sorted(false);
  }

 private:
  float theta_;
  std::vector<unsigned char> seen_;  // seen_[id] = 1 once id occurred
  std::vector<token_id> list_;       // distinct ids seen, for O(seen) apply and reset
};
static_assert(rlhf::logit_processor<repetition_penalty>);
static_assert(stateful<repetition_penalty> && prompt_aware<repetition_penalty>);

}  // namespace rlhf::sampling
