// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// GenARM decoding (Xu et al. 2025; ALGORITHMS.md §5): an autoregressive reward model π_r (a
/// language model trained with Bradley–Terry on r = β_r Σ_t log π_r(a_t | ·), rlhf reward --kind
/// genarm) guides the LM by `log π_ref + (β_r/β) log π_r`, i.e. samples from
/// π_ref(v|s) π_r(v|s)^{β_r/β} renormalised — the closed form softmax(log π_ref + r/β) with the
/// token-level reward r = β_r log π_r. One reward-LM step per token, no candidate enumeration.
#include <cmath>
#include <optional>
#include <span>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/core/math.hpp"
#include "rlhf/decoding/decode_loop.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/model/tabular_model.hpp"

namespace rlhf::guide {

/// Options of guide::genarm.
struct genarm_options {
  double beta = 1.0;    ///< KL strength of the target policy (> 0)
  double beta_r = 1.0;  ///< the reward model's scale from its training (r = β_r Σ log π_r), > 0
  void validate() const {
    RLHF_EXPECTS(std::isfinite(beta) && beta > 0, "genarm: beta = ", beta, " is outside the allowed range (0, inf)");
    RLHF_EXPECTS(std::isfinite(beta_r) && beta_r > 0, "genarm: beta_r = ", beta_r,
                 " is outside the allowed range (0, inf)");
  }
};

/// GenARM guidance with reward LM `RLM` (a language_model: its sessions return logits of π_r).
template <class RLM>
  requires language_model<RLM>
class genarm {
 public:
  using reward_model_type = RLM;
  using session_type = decltype(std::declval<RLM&>().start_session(1, 1));

  explicit genarm(RLM& rm, genarm_options opt = {}) : rm_(&rm), opt_(opt) { opt_.validate(); }

  index_t vocab_size() const { return static_cast<index_t>(rm_->vocab_size()); }
  index_t max_positions() const { return static_cast<index_t>(rm_->max_positions()); }
  index_t passes() const noexcept { return passes_; }

  void start(index_t rows, index_t capacity, std::span<const std::vector<token_id>> prompts,
             std::span<sequence_stats> stats) {
    session_.emplace(rm_->start_session(rows, capacity));
    logits_r_ = session_->prefill(prompts);
    ++passes_;
    for (auto& s : stats) ++s.rm_passes;
  }

  /// log softmax(LM logits) + (β_r/β) log softmax(π_r logits) for every token of every active row.
  void guide(const guide_step& s) {
    const double coef = opt_.beta_r / opt_.beta;
    for (index_t b : s.active) {
      auto& c = s.work[b];
      c.assign(s.row(b));
      const std::span<const float> lr(logits_r_.data() + b * s.vocab, static_cast<std::size_t>(s.vocab));
      const double lse = math::logsumexp(s.row(b)), lse_r = math::logsumexp(lr);
      auto l = c.logits();
      for (std::size_t v = 0; v < l.size(); ++v)
        l[v] = static_cast<float>((static_cast<double>(l[v]) - lse) + coef * (static_cast<double>(lr[v]) - lse_r));
      ++s.stats[b].rm_calls;
    }
  }

  void advance(std::span<const token_id> next, std::span<sequence_stats> stats) {
    detail::step_reward_rows(*session_, next, stats, passes_, logits_r_);
  }


 private:
  RLM* rm_;
  genarm_options opt_;
  std::optional<session_type> session_;
  logit_rows logits_r_{};
  index_t passes_ = 0;
};

static_assert(token_guidance<genarm<tabular_lm<backend::archetype>>>);

}  // namespace rlhf::guide
