// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The decode loop every decoder is built on (plain sampling, token-level guidance, CARDS,
/// block-wise CD, best-of-N): options and results, per-sequence cost counters, and
/// `detail::decode_rows`, the rows of one batch with their LM session, samplers and stop rules.
///
/// The LM's logits and the guided logits are kept apart: a guidance policy fills each row's
/// candidate set (ids and guided logits) from the LM's logits, the sampler chain runs on those
/// candidates, and the reported model log-prob is always log softmax(raw LM logits)[token], so
/// log π and the KL to the reference stay exact whatever the guidance did
/// (rlhf/sampling/sample_row.hpp).
///
/// Every sequence carries its own counters, measured where the work happens, never apportioned:
/// LM calls (next-token distributions it drew from, rejected CARDS segments and discarded
/// best-of-N samples included), RM calls (reward evaluations of the sequence, counted as the
/// papers count them: ARGS k per token although the k share one batched pass), the batched
/// forward passes of each model that included the row, its new tokens, the wall time from its
/// batch's start until it finished, and the KL to the reference policy (see sequence_stats).
///
/// Reproducibility: row r draws its uniforms from its own counter_rng stream (the sampling
/// stream of its prompt index, or of (prompt, copy) for decoders that branch), the counter
/// being the number of tokens the row has drawn so far, so the same seed gives the same tokens
/// for any batch size and thread count (given models whose outputs for a row do not depend on
/// the other rows of its batch).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "rlhf/core/error.hpp"
#include "rlhf/core/rng.hpp"
#include "rlhf/core/view.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/sampling/concepts.hpp"
#include "rlhf/sampling/sample_row.hpp"

namespace rlhf {

/// Why a generated sequence ended.
enum class finish_reason {
  length,       ///< max_new_tokens reached
  eos,          ///< the EOS token was sampled (it is the last entry of `tokens`)
  stop_token,   ///< a stop token id was sampled (it is the last entry of `tokens`)
  stop_string,  ///< the detokenized response contains a stop string (tokens up to the one completing it)
};

inline std::string_view to_string(finish_reason r) noexcept {
  switch (r) {
    case finish_reason::length: return "length";
    case finish_reason::eos: return "eos";
    case finish_reason::stop_token: return "stop_token";
    case finish_reason::stop_string: return "stop_string";
  }
  return "unknown";
}

/// Options of every decoder (designated initializers; checked by validate()).
struct generate_options {
  index_t max_new_tokens = 64;   ///< >= 1; prompt length + max_new_tokens must fit max_positions
  index_t min_new_tokens = 0;    ///< EOS and stop ids are banned (logit -inf) and stop strings
                                 ///< ignored before this many new tokens; <= max_new_tokens
  token_id eos_id = -1;          ///< end-of-sequence id, -1 for none
  std::vector<token_id> stop_token_ids{};   ///< more ids that end a sequence (kept in the output)
  std::vector<std::string> stop_strings{};  ///< end when the response text contains one
  /// Text of response tokens; required when stop_strings is not empty. Called serially.
  std::function<std::string(std::span<const token_id>)> detokenize{};
  std::uint64_t seed = 0;        ///< RNG key; stream = sampling stream of the prompt index, counter = draw
  /// The prompts are prompts first_index, first_index + 1, ... of a larger call: prompt i samples
  /// from the stream of first_index + i, so a shard of a data-parallel generate draws the tokens
  /// the whole call would.
  std::size_t first_index = 0;
  index_t batch_size = 8;        ///< prompts per decode session (prompts in chunks of this size)
  int threads = 0;               ///< threads sampling the rows of a step; 0 = OpenMP default

  /// Model-independent checks. @throws rlhf::invalid_argument naming the option and its range.
  void validate() const {
    RLHF_EXPECTS(max_new_tokens >= 1, "generate: max_new_tokens = ", max_new_tokens,
                 " is outside the allowed range [1, max_positions - prompt length]");
    RLHF_EXPECTS(min_new_tokens >= 0 && min_new_tokens <= max_new_tokens, "generate: min_new_tokens = ",
                 min_new_tokens, " is outside the allowed range [0, max_new_tokens = ", max_new_tokens, "]");
    RLHF_EXPECTS(eos_id >= -1, "generate: eos_id = ", eos_id, " is invalid; use a vocabulary id or -1 for none");
    RLHF_EXPECTS(batch_size >= 1, "generate: batch_size = ", batch_size, " is outside the allowed range [1, inf)");
    RLHF_EXPECTS(threads >= 0, "generate: threads = ", threads, " is outside the allowed range [0, inf), 0 = default");
    for (token_id t : stop_token_ids)
      RLHF_EXPECTS(t >= 0, "generate: stop token id ", t, " is negative; stop ids are vocabulary ids");
    for (const auto& s : stop_strings)
      RLHF_EXPECTS(!s.empty(), "generate: an empty stop string would stop at once; remove it");
    RLHF_EXPECTS(stop_strings.empty() || static_cast<bool>(detokenize),
                 "generate: stop_strings need a detokenize callback (response ids -> text)");
  }
};

/// What one sequence cost, measured (see the file comment).
struct sequence_stats {
  index_t lm_calls = 0;   ///< next-token distributions drawn from (rejected / discarded samples included)
  index_t rm_calls = 0;   ///< reward evaluations of the sequence (ARGS: k per token; FaRMA: 1 per token)
  index_t lm_passes = 0;  ///< batched LM forward passes that included this sequence's rows
  index_t rm_passes = 0;  ///< batched reward-model forward passes that included them
  index_t new_tokens = 0; ///< tokens of the returned response
  double seconds = 0.0;   ///< wall time from the start of its batch until it finished
  /// KL to the reference (the LM being guided): for token-level methods Σ_t log q(a_t) − log π_ref(a_t)
  /// over the response, q the distribution each token was drawn from; for best-of-N the
  /// sequence-level log N − (N−1)/N (per block for block-wise CD); empty where no estimate exists.
  std::optional<double> kl_to_ref;
};

/// One generated response.
struct generation {
  std::vector<token_id> tokens;          ///< new tokens only (the prompt is not repeated)
  std::vector<float> model_logprobs;     ///< log softmax(raw LM logits)[token] per token
  std::vector<float> sampling_logprobs;  ///< log q(token), q the processed (guided) distribution sampled
  std::vector<float> kept_mass;          ///< model mass of the set q was renormalised over
  finish_reason finish = finish_reason::length;
  sequence_stats stats;                  ///< what this sequence cost
};

/// Totals of one decoder call.
struct generate_stats {
  index_t lm_passes = 0;   ///< batched LM session calls (each covers a whole batch of rows)
  index_t rm_passes = 0;   ///< batched reward-model session calls
  index_t new_tokens = 0;  ///< tokens of the returned responses over all prompts
  double seconds = 0.0;    ///< wall time of the whole call
};

struct generate_result {
  std::vector<generation> sequences;  ///< one per prompt, in prompt order
  generate_stats stats;
};

/// Σ_t log q(a_t) − log π(a_t) over a response: the one-sample estimate of KL(q ‖ π) between the
/// distribution actually sampled and the model.
inline double sampled_kl(const generation& g) noexcept {
  double kl = 0.0;
  for (std::size_t t = 0; t < g.tokens.size(); ++t)
    kl += static_cast<double>(g.sampling_logprobs[t]) - static_cast<double>(g.model_logprobs[t]);
  return kl;
}

/// Trait: M declares a vocabulary size known at compile time (`static constexpr index_t
/// static_vocab_size`), so a composition of two such models is checked by the compiler.
template <class M>
concept has_static_vocab = requires {
  { M::static_vocab_size } -> std::convertible_to<index_t>;
};
namespace detail {
template <class A, class B>
constexpr bool same_static_vocab() {
  if constexpr (has_static_vocab<A> && has_static_vocab<B>) return A::static_vocab_size == B::static_vocab_size;
  else return true;
}
/// The run-time half of the check: the reward model must score the LM's tokens.
inline void check_same_vocab(index_t lm_vocab, index_t rm_vocab, const char* who) {
  RLHF_EXPECTS(lm_vocab == rm_vocab, who, ": vocabulary mismatch: the language model has ", lm_vocab,
               " tokens and the reward model ", rm_vocab,
               "; use a reward model trained with the language model's tokenizer (same vocab_size)");
}

/// Checks prompts against a model's vocabulary and positions. @throws rlhf::invalid_argument
inline void check_prompts(std::span<const std::vector<token_id>> prompts, index_t vocab, index_t max_pos,
                          const generate_options& opt) {
  opt.validate();
  RLHF_EXPECTS(opt.eos_id < vocab, "generate: eos_id = ", opt.eos_id, " is outside the vocabulary [0, ", vocab, ")");
  for (token_id t : opt.stop_token_ids)
    RLHF_EXPECTS(t < vocab, "generate: stop token id ", t, " is outside the vocabulary [0, ", vocab, ")");
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const auto& p = prompts[i];
    RLHF_EXPECTS(!p.empty(), "generate: prompt ", i, " is empty; give at least one token (e.g. a BOS id)");
    for (token_id t : p)
      RLHF_EXPECTS(t >= 0 && t < vocab, "generate: prompt ", i, " holds token id ", t,
                   " outside the vocabulary [0, ", vocab, ")");
    const auto len = static_cast<index_t>(p.size());
    RLHF_EXPECTS(len <= max_pos, "generate: prompt ", i, " has ", len, " tokens, more than the model's max_positions = ",
                 max_pos, "; truncate the prompt");
    RLHF_EXPECTS(len + opt.max_new_tokens <= max_pos, "generate: max_new_tokens = ", opt.max_new_tokens,
                 " does not fit: prompt ", i, " has ", len, " tokens and the model's max_positions is ", max_pos,
                 "; use max_new_tokens <= ", max_pos - len, " or a shorter prompt");
  }
}

/// Checks that a reward model can hold every prompt plus its response.
inline void check_reward_positions(std::span<const std::vector<token_id>> prompts, index_t rm_max_pos,
                                   const generate_options& opt, const char* who) {
  for (std::size_t i = 0; i < prompts.size(); ++i)
    RLHF_EXPECTS(static_cast<index_t>(prompts[i].size()) + opt.max_new_tokens <= rm_max_pos, who, ": prompt ", i,
                 " with max_new_tokens = ", opt.max_new_tokens, " needs ",
                 static_cast<index_t>(prompts[i].size()) + opt.max_new_tokens,
                 " positions but the reward model has max_positions = ", rm_max_pos,
                 "; use a smaller max_new_tokens or a shorter prompt");
}

/// Row capacity of a batch of prompts: the longest prompt plus max_new_tokens.
inline index_t batch_capacity(std::span<const std::vector<token_id>> prompts, const generate_options& opt) {
  index_t capacity = 0;
  for (const auto& p : prompts) capacity = std::max(capacity, static_cast<index_t>(p.size()) + opt.max_new_tokens);
  return capacity;
}

/// The sampling stream of prompt `index` of a decoder call (generate_options::first_index added).
inline std::uint64_t prompt_stream(const generate_options& opt, std::size_t index) {
  return rng_stream(rng_purpose::sampling, opt.first_index + index);
}
/// Sample `copy` (< 2^24) of prompt `index` (best-of-N, block CD): copy 0 draws what plain sampling draws.
inline std::uint64_t copy_stream(const generate_options& opt, std::size_t index, std::uint64_t copy) {
  return rng_stream(rng_purpose::sampling, copy << 40 | (opt.first_index + index));
}

/// Calls f(chunk, first) for the prompts in batches of opt.batch_size (first: the chunk's first prompt index).
template <class F>
void for_each_batch(std::span<const std::vector<token_id>> prompts, const generate_options& opt, F&& f) {
  const auto batch = static_cast<std::size_t>(opt.batch_size);
  for (std::size_t first = 0; first < prompts.size(); first += batch)
    f(prompts.subspan(first, std::min(batch, prompts.size() - first)), first);
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Sampling threads of a decoder call.
inline int decode_threads(const generate_options& opt) {
#ifdef _OPENMP
  return opt.threads > 0 ? opt.threads : omp_get_max_threads();
#else
  (void)opt;
  return 1;
#endif
}

/// Runs f(b) for every b in [0, n) on `threads` threads; the first exception is rethrown.
template <class F>
void for_rows(index_t n, int threads, F&& f) {
  std::vector<std::exception_ptr> failure(static_cast<std::size_t>(n));
  auto one = [&](std::int64_t b) {
    try {
      f(static_cast<index_t>(b));
    } catch (...) {
      failure[static_cast<std::size_t>(b)] = std::current_exception();
    }
  };
#ifdef _OPENMP
  if (n > 1 && threads > 1) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::int64_t b = 0; b < n; ++b) one(b);
  } else {
    for (std::int64_t b = 0; b < n; ++b) one(b);
  }
#else
  (void)threads;
  for (std::int64_t b = 0; b < n; ++b) one(b);
#endif
  for (auto& e : failure)
    if (e) std::rethrow_exception(e);
}

/// Starts a session whose rows hold `copies` copies of each prompt (rows i·copies .. i·copies +
/// copies − 1 hold prompts[i]): one pass over the prompts, then copy_row; copies == 1 is prefill.
/// Returns the output of every row after its prompt, with the copies' rows filled in by the caller
/// from the first row of their group (see decode_rows::start).
template <class Session>
auto prefill_copies(Session& s, std::span<const std::vector<token_id>> prompts, index_t copies) {
  if constexpr (requires(Session& x, std::span<const std::vector<token_id>> l) {
                  x.extend(l);
                  x.copy_row(index_t{}, index_t{});
                }) {
    if (copies != 1) {
      std::vector<std::vector<token_id>> lists(prompts.size() * static_cast<std::size_t>(copies));
      for (std::size_t i = 0; i < prompts.size(); ++i) lists[i * static_cast<std::size_t>(copies)] = prompts[i];
      auto out = s.extend(std::span<const std::vector<token_id>>(lists));
      for (index_t r = 0; r < static_cast<index_t>(lists.size()); ++r)
        if (r % copies != 0) s.copy_row(r - r % copies, r);
      return out;
    }
  } else {
    RLHF_EXPECTS(copies == 1, "decoding: branching rows needs a search session (extend, copy_row)");
  }
  return s.prefill(prompts);
}

/// Appends the continuing rows' tokens (negative: the row finished) to a reward model's session
/// and takes its next output into `out`, counting the pass for each row that took part (FaRMA,
/// GenARM: one reward-model step per token). Nothing runs when no row continues.
template <class Session, class Result>
void step_reward_rows(Session& s, std::span<const token_id> next, std::span<sequence_stats> stats, index_t& passes,
                      Result& out) {
  bool any = false;
  for (std::size_t b = 0; b < next.size(); ++b)
    if (next[b] >= 0) {
      any = true;
      ++stats[b].rm_passes;
    }
  if (!any) return;
  out = s.step(next);
  ++passes;
}

}  // namespace detail

/// What a token_guidance's `guide` receives for one step of a batch: the LM's next-token logits
/// (bans of min_new_tokens already applied) for the active rows in, each row's guided candidates
/// out (part of the token_guidance contract, so not in `detail`).
struct guide_step {
  index_t vocab = 0;
  std::span<const index_t> active;            ///< rows to guide this step
  const float* logits = nullptr;              ///< (rows, vocab) host: the LM's logits, bans applied
  std::span<sampling::candidates> work;       ///< per row: fill with ids and guided logits
  std::span<sequence_stats> stats;            ///< per row: add the reward calls and passes
  std::span<const float> row(index_t b) const noexcept {
    return {logits + b * vocab, static_cast<std::size_t>(vocab)};
  }
};

namespace detail {

/// The tokens a row appended in one stretch (a CARDS segment), with what was recorded for them.
struct token_run {
  std::vector<token_id> tokens;
  std::vector<float> model_logprobs, sampling_logprobs, kept_mass;
  finish_reason finish = finish_reason::length;
  bool done = false;  ///< the run ended the sequence (its last token is not in the LM cache)
};

/// The rows of one batch: the LM session, one sampler copy and candidate set per row, the
/// responses and counters, and the stop rules (see the file comment). Decoders drive it:
/// start, then repeatedly fill each active row's candidates, sample_rows(), advance().
template <class Session, sampler Sampler>
class decode_rows {
 public:
  using clock = std::chrono::steady_clock;

  decode_rows(Session& session, index_t vocab, const Sampler& sampler, const generate_options& opt,
              clock::time_point t0)
      : s_(session), vocab_(vocab), opt_(opt), t0_(t0), rows_(session.rows()), threads_(decode_threads(opt)) {
    const auto n = static_cast<std::size_t>(rows_);
    samplers_.assign(n, sampler);
    work_.resize(n);
    gen_.resize(n);
    stats_.resize(n);
    done_.assign(n, 0);
    draws_.assign(n, 0);
    next_.assign(n, -1);
    prompt_len_.assign(n, 0);
    rng_.assign(n, counter_rng(opt.seed, 0));
    logits_.assign(n * static_cast<std::size_t>(vocab), 0.0f);
    enders_ = opt.stop_token_ids;
    if (opt.eos_id >= 0) enders_.push_back(opt.eos_id);
    for (auto& g : gen_) {
      g.tokens.reserve(static_cast<std::size_t>(opt.max_new_tokens));
      g.model_logprobs.reserve(static_cast<std::size_t>(opt.max_new_tokens));
      g.sampling_logprobs.reserve(static_cast<std::size_t>(opt.max_new_tokens));
      g.kept_mass.reserve(static_cast<std::size_t>(opt.max_new_tokens));
    }
  }

  /// Starts the rows: prompts[i] goes to rows i·copies .. i·copies + copies − 1 (copies > 1: one
  /// pass over the prompt, then copy_row), row r drawing from stream streams[r].
  void start(std::span<const std::vector<token_id>> prompts, index_t copies, std::span<const std::uint64_t> streams) {
    RLHF_ASSERT(static_cast<index_t>(prompts.size()) * copies == rows_ && static_cast<index_t>(streams.size()) == rows_,
                "decode_rows: rows, prompts and streams disagree");
    copy_logits(prefill_copies(s_, prompts, copies), nullptr);
    for (index_t r = 0; r < rows_; ++r)
      if (r % copies != 0) std::copy_n(logit_row(r - r % copies), vocab_, logit_row(r));
    for (index_t r = 0; r < rows_; ++r) {
      const auto& p = prompts[static_cast<std::size_t>(r / copies)];
      prompt_len_[r] = static_cast<index_t>(p.size());
      rng_[r] = counter_rng(opt_.seed, streams[r]);
      sampling::notify_reset(samplers_[r]);
      sampling::notify_prompt(samplers_[r], std::span<const token_id>(p));
      ++stats_[r].lm_passes;
    }
    ++passes_;
  }

  index_t rows() const noexcept { return rows_; }
  index_t vocab() const noexcept { return vocab_; }
  bool done(index_t b) const noexcept { return done_[b] != 0; }
  bool all_done() const noexcept {
    return std::all_of(done_.begin(), done_.end(), [](unsigned char d) { return d != 0; });
  }
  /// Rows still generating.
  std::vector<index_t> active() const {
    std::vector<index_t> a;
    for (index_t b = 0; b < rows_; ++b)
      if (!done_[b]) a.push_back(b);
    return a;
  }
  /// Row b's raw next-token logits (V).
  std::span<const float> logits(index_t b) const noexcept {
    return {logits_.data() + b * vocab_, static_cast<std::size_t>(vocab_)};
  }
  sampling::candidates& work(index_t b) noexcept { return work_[b]; }
  generation& response(index_t b) noexcept { return gen_[b]; }
  const generation& response(index_t b) const noexcept { return gen_[b]; }
  sequence_stats& stats(index_t b) noexcept { return stats_[b]; }
  std::span<sequence_stats> stats() noexcept { return stats_; }
  index_t prompt_length(index_t b) const noexcept { return prompt_len_[b]; }
  /// The token each row sampled last step, -1 for rows that are finished (theirs included).
  std::span<const token_id> next() const noexcept { return next_; }
  Session& session() noexcept { return s_; }
  /// LM session calls so far.
  index_t passes() const noexcept { return passes_; }

  /// The guidance input of this step for the active rows: the logits with the EOS/stop ids
  /// banned in rows that have fewer than min_new_tokens tokens.
  guide_step guide_input(std::span<const index_t> active) {
    const float* src = logits_.data();
    bool any_ban = false;
    for (index_t b : active) any_ban = any_ban || !banned(b).empty();
    if (any_ban) {
      masked_ = logits_;
      for (index_t b : active)
        for (token_id t : banned(b)) masked_[static_cast<std::size_t>(b * vocab_ + t)] = -std::numeric_limits<float>::infinity();
      src = masked_.data();
    }
    return guide_step{vocab_, active, src, std::span<sampling::candidates>(work_), std::span<sequence_stats>(stats_)};
  }

  /// Samples one token in every active row from its candidates (filled by a guidance), records
  /// it with its log-probs, applies the stop rules. Rows sample in parallel.
  void sample_rows(std::span<const index_t> active) {
    std::fill(next_.begin(), next_.end(), -1);
    for_rows(static_cast<index_t>(active.size()), threads_, [&](index_t i) {
      const index_t b = active[static_cast<std::size_t>(i)];
      auto& g = gen_[b];
      const auto s = sampling::sample_guided(samplers_[b], logits(b), work_[b], rng_[b],
                                             static_cast<std::uint64_t>(draws_[b]), banned(b));
      ++draws_[b];
      ++stats_[b].lm_calls;
      sampling::notify_accept(samplers_[b], s.token);
      g.tokens.push_back(s.token);
      g.model_logprobs.push_back(static_cast<float>(s.model_logprob));
      g.sampling_logprobs.push_back(static_cast<float>(s.sampling_logprob));
      g.kept_mass.push_back(static_cast<float>(s.kept_mass));
      next_[b] = s.token;
      const auto n = static_cast<index_t>(g.tokens.size());
      if (s.token == opt_.eos_id) finish(b, finish_reason::eos);
      else if (std::find(opt_.stop_token_ids.begin(), opt_.stop_token_ids.end(), s.token) != opt_.stop_token_ids.end())
        finish(b, finish_reason::stop_token);
      else if (n == opt_.max_new_tokens) finish(b, finish_reason::length);
    });
    // Stop strings: the user's callback runs serially; eos/stop_token/length win when the same
    // token triggers both.
    if (!opt_.stop_strings.empty())
      for (index_t b : active) {
        auto& g = gen_[b];
        if (static_cast<index_t>(g.tokens.size()) < opt_.min_new_tokens || (done_[b] && g.finish != finish_reason::length))
          continue;
        const std::string text = opt_.detokenize(std::span<const token_id>(g.tokens));
        for (const auto& stop : opt_.stop_strings)
          if (text.find(stop) != std::string::npos) {
            finish(b, finish_reason::stop_string);
            break;
          }
      }
    for (index_t b : active)
      if (done_[b]) next_[b] = -1;
  }

  /// Appends each row's sampled token to the LM cache (finished rows sit out) and takes the next
  /// logits. Returns false (and calls nothing) when no row continues.
  bool advance() {
    if (std::all_of(next_.begin(), next_.end(), [](token_id t) { return t < 0; })) return false;
    copy_logits(s_.step(std::span<const token_id>(next_)), &next_);
    for (index_t b = 0; b < rows_; ++b)
      if (next_[b] >= 0) ++stats_[b].lm_passes;
    ++passes_;
    return true;
  }

  /// One step of plain sampling (no guidance) for every active row; false when no row continues.
  bool plain_step() {
    const auto a = active();
    if (a.empty()) return false;
    for (index_t b : a) work_[b].assign(logits(b));  // bans are applied by sample_guided
    sample_rows(a);
    return advance();
  }

  /// What row b holds at response position `from` and later (a segment), for rollback and replay.
  token_run cut(index_t b, index_t from) const {
    const auto& g = gen_[b];
    const auto f = static_cast<std::ptrdiff_t>(from);
    return token_run{{g.tokens.begin() + f, g.tokens.end()},
                     {g.model_logprobs.begin() + f, g.model_logprobs.end()},
                     {g.sampling_logprobs.begin() + f, g.sampling_logprobs.end()},
                     {g.kept_mass.begin() + f, g.kept_mass.end()},
                     g.finish,
                     done_[b] != 0};
  }

  /// A row's state at a segment boundary (right after advance): restore() returns to it.
  struct mark {
    index_t tokens = 0;
    Sampler sampler;
    std::vector<float> logits;
  };
  mark save(index_t b) const {
    return mark{static_cast<index_t>(gen_[b].tokens.size()), samplers_[b],
                std::vector<float>(logits(b).begin(), logits(b).end())};
  }
  /// Rolls row b back to `m` (its response, LM cache, sampler and logits); the row is active.
  void restore(index_t b, const mark& m) {
    auto& g = gen_[b];
    const auto n = static_cast<std::size_t>(m.tokens);
    g.tokens.resize(n);
    g.model_logprobs.resize(n);
    g.sampling_logprobs.resize(n);
    g.kept_mass.resize(n);
    g.finish = finish_reason::length;
    s_.truncate(b, prompt_len_[b] + m.tokens);
    samplers_[b] = m.sampler;
    std::copy(m.logits.begin(), m.logits.end(), logit_row(b));
    done_[b] = 0;
    next_[b] = -1;
  }
  /// Appends a recorded run to row b (after restore to its start): one LM pass over the tokens
  /// the cache needs (all but an ending run's last), the sampler shown each token.
  void replay(index_t b, const token_run& run) {
    auto& g = gen_[b];
    g.tokens.insert(g.tokens.end(), run.tokens.begin(), run.tokens.end());
    g.model_logprobs.insert(g.model_logprobs.end(), run.model_logprobs.begin(), run.model_logprobs.end());
    g.sampling_logprobs.insert(g.sampling_logprobs.end(), run.sampling_logprobs.begin(), run.sampling_logprobs.end());
    g.kept_mass.insert(g.kept_mass.end(), run.kept_mass.begin(), run.kept_mass.end());
    for (token_id t : run.tokens) sampling::notify_accept(samplers_[b], t);
    const std::size_t cached = run.done ? run.tokens.size() - 1 : run.tokens.size();
    if (cached > 0) {
      const auto out = s_.extend(b, std::span<const token_id>(run.tokens.data(), cached));
      std::copy_n(out.data(), vocab_, logit_row(b));
      ++stats_[b].lm_passes;
      ++passes_;
    }
    if (run.done) finish(b, run.finish);
  }

  /// Row dst becomes a copy of row src (LM cache, response, sampler, logits, finish), its own
  /// counters and random stream kept (block-wise CD keeps the best of K branches).
  void copy_row(index_t src, index_t dst) {
    if (src == dst) return;
    s_.copy_row(src, dst);
    const sequence_stats keep = stats_[dst];
    gen_[dst] = gen_[src];
    stats_[dst] = keep;
    samplers_[dst] = samplers_[src];
    std::copy_n(logit_row(src), vocab_, logit_row(dst));
    done_[dst] = done_[src];
    next_[dst] = next_[src];
  }

  /// Ends row b now (a decoder's own stopping rule).
  void finish(index_t b, finish_reason why) {
    gen_[b].finish = why;
    done_[b] = 1;
    stats_[b].seconds = seconds_since(t0_);
  }

  /// Moves row b's response out, with its counters (new_tokens set).
  generation take(index_t b) {
    generation g = std::move(gen_[b]);
    g.stats = stats_[b];
    g.stats.new_tokens = static_cast<index_t>(g.tokens.size());
    return g;
  }

 private:
  /// EOS and stop ids while the row has fewer than min_new_tokens tokens.
  std::span<const token_id> banned(index_t b) const noexcept {
    return static_cast<index_t>(gen_[b].tokens.size()) < opt_.min_new_tokens ? std::span<const token_id>(enders_)
                                                                              : std::span<const token_id>{};
  }
  float* logit_row(index_t b) noexcept { return logits_.data() + b * vocab_; }
  /// Copies the session's logits (rows, V) into the rows' own buffer (only `which` rows >= 0).
  void copy_logits(const logit_rows& out, const std::vector<token_id>* which) {
    RLHF_ASSERT(out.rank() == 2 && out.dim(0) == rows_ && out.dim(1) == vocab_,
                "the decode session returned logits of the wrong shape");
    for (index_t b = 0; b < rows_; ++b)
      if (which == nullptr || (*which)[b] >= 0) std::copy_n(out.data() + b * vocab_, vocab_, logit_row(b));
  }

  Session& s_;
  index_t vocab_;
  const generate_options& opt_;
  clock::time_point t0_;
  index_t rows_;
  int threads_;
  index_t passes_ = 0;
  std::vector<Sampler> samplers_;
  std::vector<sampling::candidates> work_;
  std::vector<generation> gen_;
  std::vector<sequence_stats> stats_;
  std::vector<unsigned char> done_;
  std::vector<index_t> draws_;
  std::vector<token_id> next_;
  std::vector<index_t> prompt_len_;
  std::vector<counter_rng> rng_;
  std::vector<float> logits_, masked_;  // (rows, V)
  std::vector<token_id> enders_;
};

}  // namespace detail

/// A token-level guidance policy (DESIGN.md `Guidance`): turns the LM's next-token logits into
/// guided candidates, one step at a time, keeping its reward model's session in step with the
/// LM's. `vocab_size()` is the reward model's vocabulary (0: any); `start` opens the reward
/// session for a batch (rows, capacity, the prompts) and counts its passes; `guide` fills the
/// candidates of the active rows and counts reward calls; `advance` appends the sampled tokens
/// (negative: the row finished) to the reward session; `passes()` counts its reward-model session
/// calls so far.
template <class G>
concept token_guidance = requires(G& g, const G& cg, index_t n, std::span<const std::vector<token_id>> prompts,
                                  std::span<sequence_stats> stats, const guide_step& step,
                                  std::span<const token_id> next) {
  typename G::reward_model_type;
  { cg.vocab_size() } -> std::convertible_to<index_t>;
  { cg.max_positions() } -> std::convertible_to<index_t>;
  { cg.passes() } -> std::convertible_to<index_t>;
  g.start(n, n, prompts, stats);
  g.guide(step);
  g.advance(next, stats);
};

/// A decoder (DESIGN.md `Decoder`): `generate(prompts, options)` returns responses with stats.
template <class D>
concept decoder = requires(D& d, std::span<const std::vector<token_id>> prompts, const generate_options& opt) {
  { d.generate(prompts, opt) } -> std::same_as<generate_result>;
};

namespace guide {
/// No guidance: the LM's logits are the candidates (plain sampling).
struct none {
  using reward_model_type = void;
  index_t vocab_size() const noexcept { return 0; }
  index_t max_positions() const noexcept { return std::numeric_limits<index_t>::max(); }
  index_t passes() const noexcept { return 0; }
  void start(index_t, index_t, std::span<const std::vector<token_id>>, std::span<sequence_stats>) {}
  void guide(const guide_step& s) {
    for (index_t b : s.active) s.work[b].assign(s.row(b));
  }
  void advance(std::span<const token_id>, std::span<sequence_stats>) {}
};
static_assert(token_guidance<none>);
}  // namespace guide

}  // namespace rlhf
