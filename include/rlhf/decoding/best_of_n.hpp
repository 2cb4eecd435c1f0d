// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Best-of-N (ALGORITHMS.md §5; TRL's BestOfNSampler): N responses per prompt sampled from the
/// LM, the one with the highest reward kept. The N samples of a prompt share its prefill (one
/// pass over the prompt, then copy_row), and so do the reward model's N rows; the N responses
/// are scored in one reward-model pass. KL to the LM: log N − (N−1)/N (Beirami et al. 2024).
#include <chrono>
#include <cmath>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/decoding/decode_loop.hpp"
#include "rlhf/model/tabular_model.hpp"
#include "rlhf/sampling/chain.hpp"
#include "rlhf/sampling/greedy.hpp"
#include "rlhf/model/concepts.hpp"

namespace rlhf {

/// Options of best_of_n_decoder.
struct best_of_n_options {
  index_t n = 4;  ///< samples per prompt, >= 1
  void validate() const { RLHF_EXPECTS(n >= 1, "best_of_n: n = ", n, " is outside the allowed range [1, inf)"); }
};

/// The analytic KL of best-of-N to its base policy, log N − (N−1)/N.
inline double best_of_n_kl(index_t n) noexcept {
  return std::log(static_cast<double>(n)) - static_cast<double>(n - 1) / static_cast<double>(n);
}

namespace detail {
/// r(s, a) of every row's response: the reward model's session over `copies` rows per prompt
/// (sharing the prompt's pass), extended by each row's response in one pass, read at the last token.
template <class RM>
std::vector<double> score_responses(RM& rm, std::span<const std::vector<token_id>> prompts, index_t copies,
                                    std::span<const std::vector<token_id>> responses, index_t capacity) {
  auto s = rm.start_session(static_cast<index_t>(responses.size()), capacity);
  prefill_copies(s, prompts, copies);
  const auto v = s.extend(responses);
  std::vector<double> r(responses.size());
  for (std::size_t i = 0; i < r.size(); ++i) r[i] = static_cast<double>(v[static_cast<index_t>(i)]);
  return r;
}
}  // namespace detail

/// Best-of-N decoding: LM `LM` sampled with `Sampler`, responses ranked by value model `RM` at
/// their last token. opt.batch_size counts prompts (a session holds batch_size · n rows).
template <language_model LM, class RM, sampler Sampler>
  requires value_model<RM> && search_model<LM, logit_rows> && search_model<RM, value_rows>
class best_of_n_decoder {
  static_assert(detail::same_static_vocab<LM, RM>(),
                "best_of_n_decoder: the language model and the reward model have different vocabularies");

 public:
  best_of_n_decoder(LM& lm, RM& rm, Sampler sampler, best_of_n_options opt = {})
      : lm_(lm), rm_(rm), sampler_(std::move(sampler)), opt_(opt) {
    opt_.validate();
    detail::check_same_vocab(static_cast<index_t>(lm_.vocab_size()), static_cast<index_t>(rm_.vocab_size()), "best_of_n");
  }

  /// For each prompt the highest-reward of n samples (ties: the first); its stats count all n:
  /// lm_calls = the n samples' tokens, rm_calls = n, kl_to_ref = log n − (n−1)/n.
  generate_result generate(std::span<const std::vector<token_id>> prompts, const generate_options& opt) {
    const auto start = std::chrono::steady_clock::now();
    detail::check_prompts(prompts, static_cast<index_t>(lm_.vocab_size()), static_cast<index_t>(lm_.max_positions()), opt);
    detail::check_reward_positions(prompts, static_cast<index_t>(rm_.max_positions()), opt, "best_of_n");
    const index_t n = opt_.n;
    last_rewards_.clear();
    generate_result result;
    result.sequences.resize(prompts.size());
    detail::for_each_batch(prompts, opt, [&](std::span<const std::vector<token_id>> chunk, std::size_t first) {
      const auto rows = static_cast<index_t>(chunk.size()) * n;
      const index_t capacity = detail::batch_capacity(chunk, opt);
      const auto t0 = std::chrono::steady_clock::now();
      auto session = lm_.start_session(rows, capacity);
      detail::decode_rows<decltype(session), Sampler> d(session, static_cast<index_t>(lm_.vocab_size()), sampler_, opt, t0);
      std::vector<std::uint64_t> streams(static_cast<std::size_t>(rows));
      for (index_t r = 0; r < rows; ++r)  // sample 0 of prompt i draws what plain sampling draws
        streams[r] = detail::copy_stream(opt, first + static_cast<std::size_t>(r / n), static_cast<std::uint64_t>(r % n));
      d.start(chunk, n, streams);
      while (d.plain_step()) {
      }
      std::vector<std::vector<token_id>> responses(static_cast<std::size_t>(rows));
      for (index_t r = 0; r < rows; ++r) responses[r] = d.response(r).tokens;
      const auto reward = detail::score_responses(rm_, chunk, n, std::span<const std::vector<token_id>>(responses), capacity);
      result.stats.lm_passes += d.passes();
      result.stats.rm_passes += 2;
      const double seconds = detail::seconds_since(t0);
      for (std::size_t i = 0; i < chunk.size(); ++i) {
        index_t best = static_cast<index_t>(i) * n;
        index_t lm_calls = 0, lm_passes = 0;
        for (index_t j = 0; j < n; ++j) {
          const index_t r = static_cast<index_t>(i) * n + j;
          if (reward[r] > reward[best]) best = r;
          lm_calls += d.stats(r).lm_calls;
          lm_passes = std::max(lm_passes, d.stats(r).lm_passes);
        }
        auto& g = result.sequences[first + i];
        g = d.take(best);
        g.stats.lm_calls = lm_calls;
        g.stats.lm_passes = lm_passes;
        g.stats.rm_calls = n;
        g.stats.rm_passes = 2;
        g.stats.seconds = seconds;
        g.stats.kl_to_ref = best_of_n_kl(n);
        result.stats.new_tokens += g.stats.new_tokens;
        last_rewards_.push_back(reward[best]);
      }
    });
    result.stats.seconds = detail::seconds_since(start);
    return result;
  }

  /// The reward of each returned response of the last generate() call, in prompt order.
  std::span<const double> rewards() const noexcept { return last_rewards_; }

 private:
  LM& lm_;
  RM& rm_;
  Sampler sampler_;
  best_of_n_options opt_;
  std::vector<double> last_rewards_;
};

static_assert(decoder<best_of_n_decoder<tabular_lm<backend::archetype>, tabular_value_model<backend::archetype>, sampling::chain<sampling::greedy>>>);

}  // namespace rlhf
