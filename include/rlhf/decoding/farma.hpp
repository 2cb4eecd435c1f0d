// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// FaRMA decoding (Rashid et al. 2025; ALGORITHMS.md §5): a token reward model returns
/// R(s, a^{<i}) ∈ R^V for every next token in ONE call, and the guided logits are
/// `logit + w · R` (equivalently log π_ref + R/β with w = 1/β), then the sampler — top-k as in
/// the paper, or greedy. One LM step and one reward-model step per token, both incremental
/// (the reference code re-runs both models over the whole prefix every token, at batch 1).
#include <cmath>
#include <optional>
#include <span>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/decoding/decode_loop.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/model/tabular_model.hpp"

namespace rlhf::guide {

/// Options of guide::farma.
struct farma_options {
  double w = 1.0;  ///< reward weight (1/β)
  void validate() const { RLHF_EXPECTS(std::isfinite(w), "farma: w = ", w, " must be finite"); }
};

/// FaRMA guidance with token reward model `TRM`.
template <class TRM>
  requires token_reward_model<TRM>
class farma {
 public:
  using reward_model_type = TRM;
  using session_type = decltype(std::declval<TRM&>().start_session(1, 1));

  explicit farma(TRM& rm, farma_options opt = {}) : rm_(&rm), opt_(opt) { opt_.validate(); }

  index_t vocab_size() const { return static_cast<index_t>(rm_->vocab_size()); }
  index_t max_positions() const { return static_cast<index_t>(rm_->max_positions()); }
  index_t passes() const noexcept { return passes_; }

  /// Prefills the reward model: its output is R for the first response token.
  void start(index_t rows, index_t capacity, std::span<const std::vector<token_id>> prompts,
             std::span<sequence_stats> stats) {
    session_.emplace(rm_->start_session(rows, capacity));
    rewards_ = session_->prefill(prompts);
    ++passes_;
    for (auto& s : stats) ++s.rm_passes;
  }

  /// logit + w · R for every token of every active row (one reward call each).
  void guide(const guide_step& s) {
    RLHF_ASSERT(rewards_.width() == s.vocab, "farma: reward rows and logits differ in width");
    for (index_t b : s.active) {
      auto& c = s.work[b];
      c.assign(s.row(b));
      const auto r = rewards_.row(b);
      auto l = c.logits();
      for (std::size_t v = 0; v < l.size(); ++v)
        l[v] = static_cast<float>(static_cast<double>(l[v]) + opt_.w * static_cast<double>(r[v]));
      ++s.stats[b].rm_calls;
    }
  }

  /// Steps the reward model with the continuing rows' tokens: R for their next token.
  void advance(std::span<const token_id> next, std::span<sequence_stats> stats) {
    detail::step_reward_rows(*session_, next, stats, passes_, rewards_);
  }


 private:
  TRM* rm_;
  farma_options opt_;
  std::optional<session_type> session_;
  token_reward_rows rewards_{};
  index_t passes_ = 0;
};

static_assert(token_guidance<farma<tabular_token_reward_model<backend::archetype>>>);

}  // namespace rlhf::guide
