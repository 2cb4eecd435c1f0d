// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// ARGS (Khanov et al. 2024; ALGORITHMS.md §5): the LM's top-k next tokens, each scored
/// `logit(v) + w · r(s, a^{<i} ⊕ v)` by a sequence reward model, then the sampler (greedy:
/// ARGS-greedy; temperature τ + categorical: ARGS-stochastic, softmax(score/τ) over the k).
///
/// The same guidance with a prefix-trained reward model is PARGS (Rashid et al. 2024), and with a
/// CD value model V(s, a^{≤i}) it is token-wise controlled decoding (Mudgal et al. 2023, CD-FUDGE),
/// so those are aliases, not code.
///
/// Cost, and what makes this faster than the reference code: the B·k candidates of a step are
/// ONE batched reward-model pass of B·k one-token queries against each row's one prefix cache
/// (chunked to `max_queries` queries), and the chosen candidate's keys/values are committed from
/// that pass (search_session::commit_candidates), so the reward model runs one pass per token,
/// never a k-fold cache copy or a second step. RM calls are counted as the paper does: k per token.
#include <algorithm>
#include <cmath>
#include <optional>
#include <span>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/decoding/decode_loop.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/sampling/candidates.hpp"

namespace rlhf::guide {

/// Options of guide::args.
struct args_options {
  index_t k = 10;              ///< candidates per token (the LM's top k), >= 1
  double w = 1.0;              ///< reward weight
  index_t max_queries = 4096;  ///< candidate queries per reward-model pass (bounds its memory)

  void validate() const {
    RLHF_EXPECTS(k >= 1, "args: k = ", k, " is outside the allowed range [1, vocab_size]");
    RLHF_EXPECTS(std::isfinite(w), "args: w = ", w, " must be finite");
    RLHF_EXPECTS(max_queries >= 1, "args: max_queries = ", max_queries, " is outside the allowed range [1, inf)");
  }
};

/// ARGS guidance with reward model `RM` (a value_model read at the candidate position: a
/// sequence reward model, a prefix reward model for PARGS, a CD value model).
template <class RM>
  requires value_model<RM> && search_model<RM, value_rows>
class args {
 public:
  using reward_model_type = RM;
  using session_type = decltype(std::declval<RM&>().start_session(1, 1));

  explicit args(RM& rm, args_options opt = {}) : rm_(&rm), opt_(opt) { opt_.validate(); }

  index_t vocab_size() const { return static_cast<index_t>(rm_->vocab_size()); }
  index_t max_positions() const { return static_cast<index_t>(rm_->max_positions()); }
  index_t passes() const noexcept { return passes_; }
  const args_options& options() const noexcept { return opt_; }

  /// Prefills the reward model's rows with the prompts (one pass, no reward read).
  void start(index_t rows, index_t capacity, std::span<const std::vector<token_id>> prompts,
             std::span<sequence_stats> stats) {
    session_.emplace(rm_->start_session(rows, capacity));
    session_->prefill(prompts);
    ++passes_;
    for (auto& s : stats) ++s.rm_passes;
    ids_.assign(static_cast<std::size_t>(rows), {});
    offset_.assign(static_cast<std::size_t>(rows), -1);
  }

  /// Top-k of each active row, all rows' candidates scored in one pass (or max_queries chunks).
  void guide(const guide_step& s) {
    q_rows_.clear();
    q_tokens_.clear();
    for (index_t b : s.active) {
      auto& c = s.work[b];
      c.assign(s.row(b));
      sel_.clear();
      sampling::detail::select_first(c, static_cast<std::size_t>(std::min(opt_.k, s.vocab)), nullptr, sel_, heap_);
      auto& ids = ids_[static_cast<std::size_t>(b)];
      ids.clear();
      for (const auto& e : sel_)
        if (e.logit != -std::numeric_limits<float>::infinity()) ids.push_back(e.id);
      RLHF_EXPECTS(!ids.empty(), "args: every token of row ", b, " is banned; nothing can be scored");
      offset_[static_cast<std::size_t>(b)] = static_cast<index_t>(q_rows_.size());
      for (token_id t : ids) {
        q_rows_.push_back(b);
        q_tokens_.push_back(t);
      }
    }
    rewards_.resize(q_rows_.size());
    // Whole rows per pass, at most max_queries candidates (a row of k > max_queries alone).
    std::size_t at = 0;
    while (at < q_rows_.size()) {
      std::size_t end = at;
      while (end < q_rows_.size()) {
        std::size_t row_end = end;
        while (row_end < q_rows_.size() && q_rows_[row_end] == q_rows_[end]) ++row_end;
        if (end > at && row_end - at > static_cast<std::size_t>(opt_.max_queries)) break;
        end = row_end;
      }
      const auto r = session_->score_candidates(std::span<const index_t>(q_rows_).subspan(at, end - at),
                                                std::span<const token_id>(q_tokens_).subspan(at, end - at));
      ++passes_;
      for (std::size_t i = at; i < end; ++i) rewards_[i] = r[static_cast<index_t>(i - at)];
      for (std::size_t i = at; i < end; ++i)
        if (i == at || q_rows_[i] != q_rows_[i - 1]) ++s.stats[q_rows_[i]].rm_passes;
      at = end;
    }
    for (index_t b : s.active) {
      const auto& ids = ids_[static_cast<std::size_t>(b)];
      const index_t off = offset_[static_cast<std::size_t>(b)];
      guided_.resize(ids.size());
      const auto row = s.row(b);
      for (std::size_t j = 0; j < ids.size(); ++j)
        guided_[j] = static_cast<float>(static_cast<double>(row[static_cast<std::size_t>(ids[j])]) +
                                        opt_.w * static_cast<double>(rewards_[static_cast<std::size_t>(off) + j]));
      s.work[b].assign(std::span<const token_id>(ids), std::span<const float>(guided_));
      s.stats[b].rm_calls += static_cast<index_t>(ids.size());
    }
  }

  /// Commits each continuing row's chosen candidate from the keys/values of its scoring pass.
  void advance(std::span<const token_id> next, std::span<sequence_stats>) {
    picks_.clear();
    for (std::size_t b = 0; b < next.size(); ++b) {
      if (next[b] < 0) continue;
      const auto& ids = ids_[b];
      const auto it = std::find(ids.begin(), ids.end(), next[b]);
      RLHF_ASSERT(it != ids.end(), "args: the sampler chose a token that was not a candidate");
      picks_.push_back(offset_[b] + static_cast<index_t>(it - ids.begin()));
    }
    session_->commit_candidates(std::span<const index_t>(picks_));
  }

  /// The reward-model session of the current batch (tests read it).
  session_type& session() { return *session_; }

 private:
  RM* rm_;
  args_options opt_;
  std::optional<session_type> session_;
  index_t passes_ = 0;
  std::vector<std::vector<token_id>> ids_;  // per row: this step's candidates
  std::vector<index_t> offset_;             // per row: its first candidate among this step's queries
  std::vector<index_t> q_rows_, picks_;
  std::vector<token_id> q_tokens_;
  std::vector<float> rewards_, guided_;
  std::vector<sampling::detail::entry> sel_, heap_;
};

/// PARGS (Rashid et al. 2024): ARGS whose reward model was trained on prefixes (rlhf reward --kind prefix).
template <class RM>
using pargs = args<RM>;
/// Token-wise controlled decoding (Mudgal et al. 2023): ARGS scoring with a CD value model V(s, a^{≤i}).
template <class RM>
using cd = args<RM>;

static_assert(token_guidance<args<tabular_value_model<backend::archetype>>>);

}  // namespace rlhf::guide
