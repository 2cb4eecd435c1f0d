// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// CARDS (Li et al. 2024; ALGORITHMS.md §5): segment-level rejection sampling. The LM extends
/// the response segment by segment; a segment ends when the next-token entropy exceeds a
/// threshold (after segment_min tokens), at segment_max tokens, or with the response. The
/// reward model scores prefix ⊕ segment (its cache extended by the segment in one pass) and the
/// segment is accepted if r ≥ τ (hard) or with probability min(1, exp((r − τ)/temperature))
/// (soft), the threshold rising linearly from (1 − α) r(prompt) + α r* to r* over the response
/// budget. A rejected segment is rolled back in both caches (truncate) and the sampler's state;
/// after max_rejections rejections the best segment seen is taken.
///
/// Counted: LM calls include every rejected segment's tokens; RM calls are one for the prompt
/// plus one per segment attempt, accepted or rejected. There is no per-token distribution, so
/// kl_to_ref is empty.
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/core/math.hpp"
#include "rlhf/decoding/decode_loop.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/sampling/chain.hpp"
#include "rlhf/sampling/greedy.hpp"
#include "rlhf/model/concepts.hpp"

namespace rlhf {

/// How CARDS accepts a scored segment.
enum class cards_acceptance { hard, soft };

/// Options of cards_decoder (defaults: the paper's, with a target reward for a reward model
/// scaled like the library's).
struct cards_options {
  index_t segment_min = 4;         ///< tokens before an entropy boundary may end a segment, >= 1
  index_t segment_max = 64;        ///< longest segment, >= segment_min
  double entropy_threshold = 3.0;  ///< nats; a segment ends where the next token's entropy exceeds it
  double target_reward = 1.0;      ///< r*: the threshold reached at the end of the budget
  double alpha = 0.5;              ///< the threshold starts at (1 − α) r(prompt) + α r*, α in [0, 1]
  cards_acceptance acceptance = cards_acceptance::hard;
  double temperature = 1.0;        ///< soft acceptance: min(1, exp((r − τ)/temperature)), > 0
  index_t max_rejections = 20;     ///< after this many rejections in a row the best segment seen is taken, >= 1

  void validate() const {
    RLHF_EXPECTS(segment_min >= 1, "cards: segment_min = ", segment_min, " is outside the allowed range [1, inf)");
    RLHF_EXPECTS(segment_max >= segment_min, "cards: segment_max = ", segment_max,
                 " is outside the allowed range [segment_min = ", segment_min, ", inf)");
    RLHF_EXPECTS(std::isfinite(entropy_threshold) && entropy_threshold >= 0, "cards: entropy_threshold = ",
                 entropy_threshold, " is outside the allowed range [0, inf)");
    RLHF_EXPECTS(std::isfinite(target_reward), "cards: target_reward = ", target_reward, " must be finite");
    RLHF_EXPECTS(alpha >= 0 && alpha <= 1, "cards: alpha = ", alpha, " is outside the allowed range [0, 1]");
    RLHF_EXPECTS(std::isfinite(temperature) && temperature > 0, "cards: temperature = ", temperature,
                 " is outside the allowed range (0, inf)");
    RLHF_EXPECTS(max_rejections >= 1, "cards: max_rejections = ", max_rejections,
                 " is outside the allowed range [1, inf)");
  }
};

/// Entropy (nats) of softmax(logits).
inline double softmax_entropy(std::span<const float> logits) noexcept {
  const double lse = math::logsumexp(logits);
  double h = 0.0;
  for (float l : logits) {
    if (l == -std::numeric_limits<float>::infinity()) continue;
    const double lp = static_cast<double>(l) - lse;
    h -= std::exp(lp) * lp;
  }
  return h;
}

/// What happened to the segments of one response (cards_decoder::trace()).
struct cards_trace {
  index_t accepted = 0, rejected = 0, fallbacks = 0;  ///< segments accepted, rejected, taken as best-of-rejected
  std::vector<double> rewards;                        ///< reward of every attempt, in order
  std::vector<double> thresholds;                     ///< the threshold each attempt was compared with
};

/// CARDS decoding: LM `LM` sampled with `Sampler`, segments judged by value model `RM` (a
/// sequence reward model read at the segment's last token).
template <language_model LM, class RM, sampler Sampler>
  requires value_model<RM> && search_model<LM, logit_rows> && search_model<RM, value_rows>
class cards_decoder {
  static_assert(detail::same_static_vocab<LM, RM>(),
                "cards_decoder: the language model and the reward model have different vocabularies");

 public:
  cards_decoder(LM& lm, RM& rm, Sampler sampler, cards_options opt = {})
      : lm_(lm), rm_(rm), sampler_(std::move(sampler)), opt_(opt) {
    opt_.validate();
    detail::check_same_vocab(static_cast<index_t>(lm_.vocab_size()), static_cast<index_t>(rm_.vocab_size()), "cards");
  }

  generate_result generate(std::span<const std::vector<token_id>> prompts, const generate_options& opt) {
    const auto start = std::chrono::steady_clock::now();
    detail::check_prompts(prompts, static_cast<index_t>(lm_.vocab_size()), static_cast<index_t>(lm_.max_positions()), opt);
    detail::check_reward_positions(prompts, static_cast<index_t>(rm_.max_positions()), opt, "cards");
    generate_result result;
    result.sequences.resize(prompts.size());
    trace_.assign(prompts.size(), {});
    detail::for_each_batch(prompts, opt, [&](std::span<const std::vector<token_id>> chunk, std::size_t first) {
      run_batch(chunk, first, opt, result);
    });
    result.stats.seconds = detail::seconds_since(start);
    return result;
  }

  /// Per prompt of the last generate(): segment decisions, rewards and thresholds.
  std::span<const cards_trace> trace() const noexcept { return trace_; }

 private:
  void run_batch(std::span<const std::vector<token_id>> chunk, std::size_t first, const generate_options& opt,
                 generate_result& result) {
    const auto rows = static_cast<index_t>(chunk.size());
    const index_t capacity = detail::batch_capacity(chunk, opt);
    const auto t0 = std::chrono::steady_clock::now();
    auto session = lm_.start_session(rows, capacity);
    using rows_t = detail::decode_rows<decltype(session), Sampler>;
    rows_t d(session, static_cast<index_t>(lm_.vocab_size()), sampler_, opt, t0);
    std::vector<std::uint64_t> streams(chunk.size());
    for (std::size_t b = 0; b < chunk.size(); ++b) streams[b] = detail::prompt_stream(opt, first + b);
    d.start(chunk, 1, streams);
    auto rs = rm_.start_session(rows, capacity);
    const auto r_prompt = rs.prefill(chunk);
    index_t rm_passes = 1;

    struct row_state {
      typename rows_t::mark mark;
      index_t seg_len = 0, rejections = 0, attempts = 0;
      double tau0 = 0;
      std::optional<std::pair<detail::token_run, double>> best;  // best rejected segment since the last acceptance
    };
    std::vector<row_state> st;
    st.reserve(chunk.size());
    for (index_t b = 0; b < rows; ++b) {
      st.push_back(row_state{d.save(b)});
      st[b].tau0 = (1 - opt_.alpha) * static_cast<double>(r_prompt[b]) + opt_.alpha * opt_.target_reward;
      ++d.stats(b).rm_calls;
      ++d.stats(b).rm_passes;
    }
    const double budget = static_cast<double>(opt.max_new_tokens);
    while (!d.all_done()) {
      const auto active = d.active();
      for (index_t b : active) d.work(b).assign(d.logits(b));
      d.sample_rows(active);
      d.advance();
      // Which segments ended this step.
      std::vector<std::vector<token_id>> lists(static_cast<std::size_t>(rows));
      std::vector<index_t> ended;
      for (index_t b : active) {
        auto& s = st[b];
        ++s.seg_len;
        const bool boundary = d.done(b) || s.seg_len >= opt_.segment_max ||
                              (s.seg_len >= opt_.segment_min && softmax_entropy(d.logits(b)) > opt_.entropy_threshold);
        if (!boundary) continue;
        ended.push_back(b);
        lists[b] = d.cut(b, s.mark.tokens).tokens;
      }
      if (ended.empty()) continue;
      const auto r = rs.extend(std::span<const std::vector<token_id>>(lists));
      ++rm_passes;
      for (index_t b : ended) {
        auto& s = st[b];
        auto& tr = trace_[first + static_cast<std::size_t>(b)];
        ++d.stats(b).rm_calls;
        ++d.stats(b).rm_passes;
        const double reward = static_cast<double>(r[b]);
        const double progress = std::min(1.0, static_cast<double>(d.response(b).tokens.size()) / budget);
        const double tau = s.tau0 + (opt_.target_reward - s.tau0) * progress;
        const counter_rng u(opt.seed, detail::prompt_stream(opt, first + static_cast<std::size_t>(b)));
        const bool accept = opt_.acceptance == cards_acceptance::hard
                                ? reward >= tau
                                : u.uniform((std::uint64_t{1} << 62) + static_cast<std::uint64_t>(s.attempts)) <
                                      std::exp(std::min(0.0, (reward - tau) / opt_.temperature));
        ++s.attempts;
        tr.rewards.push_back(reward);
        tr.thresholds.push_back(tau);
        if (accept) {
          ++tr.accepted;
          next_segment(d, b, s, t0);
          continue;
        }
        ++tr.rejected;
        ++s.rejections;
        const bool better = !s.best || reward > s.best->second;
        if (s.rejections >= opt_.max_rejections) {
          ++tr.fallbacks;
          if (!better) {  // take the best earlier attempt: roll back, then replay it in both caches
            const detail::token_run run = s.best->first;
            d.restore(b, s.mark);
            rs.truncate(b, d.prompt_length(b) + s.mark.tokens);
            d.replay(b, run);
            rs.extend(b, std::span<const token_id>(run.tokens));
            ++rm_passes;
            ++d.stats(b).rm_passes;
          }
          next_segment(d, b, s, t0);
          continue;
        }
        if (better) s.best.emplace(d.cut(b, s.mark.tokens), reward);
        s.seg_len = 0;
        d.restore(b, s.mark);
        rs.truncate(b, d.prompt_length(b) + s.mark.tokens);
      }
    }
    result.stats.lm_passes += d.passes();
    result.stats.rm_passes += rm_passes;
    for (index_t b = 0; b < rows; ++b) {
      auto& g = result.sequences[first + static_cast<std::size_t>(b)];
      g = d.take(b);
      g.stats.kl_to_ref.reset();
      result.stats.new_tokens += g.stats.new_tokens;
    }
  }

  /// After an accepted segment: a new segment starts here (or the response is complete).
  template <class Rows, class State>
  static void next_segment(Rows& d, index_t b, State& s, std::chrono::steady_clock::time_point t0) {
    s.seg_len = 0;
    s.rejections = 0;
    s.best.reset();
    if (d.done(b)) d.stats(b).seconds = detail::seconds_since(t0);
    else s.mark = d.save(b);
  }

  LM& lm_;
  RM& rm_;
  Sampler sampler_;
  cards_options opt_;
  std::vector<cards_trace> trace_;
};

static_assert(decoder<cards_decoder<tabular_lm<backend::archetype>, tabular_value_model<backend::archetype>, sampling::chain<sampling::greedy>>>);

}  // namespace rlhf
