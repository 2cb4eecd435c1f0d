// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Additive per-token logit bias (OpenAI API `logit_bias`; Hugging Face `SequenceBiasLogitsProcessor`
/// for one-token sequences): l_v ← l_v + b_v. A bias of -inf bans a token. No-op: empty map.
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "rlhf/sampling/concepts.hpp"

namespace rlhf::sampling {

/// Adds a fixed bias to chosen token ids (-inf bans them).
/// @throws rlhf::invalid_argument on a negative id, a NaN or +inf bias, or a repeated id.
class logit_bias {
 public:
  using rlhf_concept = logit_processor_tag;

  logit_bias() = default;
  explicit logit_bias(std::vector<std::pair<token_id, float>> bias) : bias_(std::move(bias)) {
    for (std::size_t i = 0; i < bias_.size(); ++i) {
      const auto [t, b] = bias_[i];
      RLHF_EXPECTS(t >= 0, "logit_bias: token id ", t, " is negative; ids are vocabulary indices >= 0");
      RLHF_EXPECTS(!std::isnan(b) && b != std::numeric_limits<float>::infinity(), "logit_bias: bias ", b,
                   " for token ", t, " is outside the allowed range (finite, or -inf to ban the token)");
      for (std::size_t j = 0; j < i; ++j)
        RLHF_EXPECTS(bias_[j].first != t, "logit_bias: token ", t, " appears twice; give one bias per token");
    }
  }
  const std::vector<std::pair<token_id, float>>& values() const noexcept { return bias_; }

  void apply(candidates& c) const {
    if (bias_.empty()) return;
    auto l = c.logits();
    for (const auto& [t, b] : bias_) {
      const index_t i = c.locate(t);
      if (i >= 0) l[static_cast<std::size_t>(i)] += b;
    }
    c.set_sorted(false);
  }

 private:
  std::vector<std::pair<token_id, float>> bias_;
};
static_assert(rlhf::logit_processor<logit_bias>);

}  // namespace rlhf::sampling
