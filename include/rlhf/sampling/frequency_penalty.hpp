// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Frequency and presence penalties (OpenAI API, "Parameter details"):
/// l_v ← l_v - c_v·α_frequency - [c_v > 0]·α_presence, where c_v counts how often v was
/// generated so far in this sequence (the prompt does not count, as in OpenAI's and vLLM's
/// definition). No-op: both coefficients 0. Negative coefficients encourage repetition.
/// Stateful: `accept` counts tokens, `reset` clears the counts.
#include <span>
#include <vector>

#include "rlhf/sampling/concepts.hpp"

namespace rlhf::sampling {

/// OpenAI's additive penalties on generated tokens: α_frequency per occurrence, α_presence once.
/// @throws rlhf::invalid_argument when a coefficient is NaN or infinite.
class frequency_penalty {
 public:
  using rlhf_concept = logit_processor_tag;

  explicit frequency_penalty(double frequency = 0.0, double presence = 0.0)
      : frequency_(frequency), presence_(presence) {
    RLHF_EXPECTS(detail::finite(frequency), "frequency_penalty: ", frequency,
                 " is outside the allowed range (finite; OpenAI suggests [-2, 2]); use 0 to disable");
    RLHF_EXPECTS(detail::finite(presence), "presence_penalty: ", presence,
                 " is outside the allowed range (finite; OpenAI suggests [-2, 2]); use 0 to disable");
  }
  double frequency() const noexcept { return frequency_; }
  double presence() const noexcept { return presence_; }

  void accept(token_id t) {
    if (t < 0) return;
    const auto u = static_cast<std::size_t>(t);
    if (u >= count_.size()) count_.resize(u + 1, 0);
    if (count_[u]++ == 0) list_.push_back(t);
  }
  void reset() {
    for (token_id t : list_) count_[static_cast<std::size_t>(t)] = 0;
    list_.clear();
  }

  void apply(candidates& c) const {
    if ((frequency_ == 0.0 && presence_ == 0.0) || list_.empty()) return;
    auto l = c.logits();
    for (token_id t : list_) {
      const index_t i = c.locate(t);
      if (i < 0) continue;
      const double k = count_[static_cast<std::size_t>(t)];
      float& x = l[static_cast<std::size_t>(i)];
      x = static_cast<float>(static_cast<double>(x) - k * frequency_ - presence_);
    }
    c.set_sorted(false);
  }

 private:
  double frequency_, presence_;
  std::vector<std::int32_t> count_;  // count_[id] = occurrences among generated tokens
  std::vector<token_id> list_;       // distinct ids generated
};
static_assert(rlhf::logit_processor<frequency_penalty>);
static_assert(stateful<frequency_penalty>);

}  // namespace rlhf::sampling
