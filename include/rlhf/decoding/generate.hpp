// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Batched sampling from any `rlhf::language_model` with its KV-cache session (prefill once, then
/// one `step` per new token; finished rows are passed as -1 and cost nothing). Prompts are
/// processed in chunks of `batch_size` rows.
///
/// Reproducibility: the uniform for prompt i at step t is draw t of the sampling stream i of
/// `seed` (`counter_rng(seed, rng_stream(rng_purpose::sampling, i))`, core/rng.hpp)
/// and the categorical selector walks candidates in token-id order, so the same seed gives the
/// same tokens for any batch size and thread count (given a model whose logits for a row do
/// not depend on the other rows of its batch).
///
/// Per token it returns the model's log-prob (full softmax of the raw logits: what PPO uses as
/// log π_old), the sampling log-prob (under the processed, truncated distribution actually
/// sampled) and the kept model mass; see rlhf/sampling/sample_row.hpp and docs/sampling.md.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
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

/// Options of `rlhf::generate` (designated initializers; checked by validate()).
struct generate_options {
  index_t max_new_tokens = 64;   ///< >= 1; prompt length + max_new_tokens must fit max_positions
  index_t min_new_tokens = 0;    ///< EOS and stop ids are banned (logit -inf) and stop strings
                                 ///< ignored before this many new tokens; <= max_new_tokens
  token_id eos_id = -1;          ///< end-of-sequence id, -1 for none
  std::vector<token_id> stop_token_ids{};   ///< more ids that end a sequence (kept in the output)
  std::vector<std::string> stop_strings{};  ///< end when the response text contains one
  /// Text of response tokens; required when stop_strings is not empty. Called serially.
  std::function<std::string(std::span<const token_id>)> detokenize{};
  std::uint64_t seed = 0;        ///< RNG key; stream = sampling stream of the prompt index, counter = step
  index_t batch_size = 8;        ///< rows per decode session (prompts in chunks of this size)
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

/// One generated response.
struct generation {
  std::vector<token_id> tokens;          ///< new tokens only (the prompt is not repeated)
  std::vector<float> model_logprobs;     ///< log softmax(raw logits)[token] per token
  std::vector<float> sampling_logprobs;  ///< log q(token), q the processed distribution sampled
  std::vector<float> kept_mass;          ///< model mass of the set q was renormalised over
  finish_reason finish = finish_reason::length;
};

/// Cost counters every decoder reports (DESIGN.md).
struct generate_stats {
  index_t lm_calls = 0;    ///< prefill and step calls (each covers a whole chunk of rows)
  index_t new_tokens = 0;  ///< tokens generated over all prompts
  double seconds = 0.0;    ///< wall time of the whole call
};

struct generate_result {
  std::vector<generation> sequences;  ///< one per prompt, in prompt order
  generate_stats stats;
};

/// Samples a response for every prompt.
/// @tparam Model a `rlhf::language_model`
/// @tparam Sampler a `rlhf::sampler` (sampling::chain, sampling::any_sampler); each row works on
///         its own copy (reset, then shown the prompt), so `sampler` itself is never changed and
///         is taken by const reference (a temporary such as any_sampler::parse(...) works too).
/// @param prompts token ids, each non-empty with ids < vocab_size
/// @throws rlhf::invalid_argument on an empty prompt, an id outside the vocabulary, a prompt longer
///         than max_positions, max_new_tokens that does not fit, or a bad option; rlhf::numerical_error
///         when every token of a row is banned.
template <language_model Model, sampler Sampler>
generate_result generate(Model& lm, std::span<const std::vector<token_id>> prompts, const Sampler& sampler,
                         const generate_options& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  opt.validate();
  const index_t vocab = static_cast<index_t>(lm.vocab_size());
  const index_t max_pos = static_cast<index_t>(lm.max_positions());
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

  // Tokens that end a sequence: banned before min_new_tokens.
  std::vector<token_id> enders(opt.stop_token_ids);
  if (opt.eos_id >= 0) enders.push_back(opt.eos_id);

  generate_result result;
  result.sequences.resize(prompts.size());
  for (auto& g : result.sequences) {
    g.tokens.reserve(static_cast<std::size_t>(opt.max_new_tokens));
    g.model_logprobs.reserve(static_cast<std::size_t>(opt.max_new_tokens));
    g.sampling_logprobs.reserve(static_cast<std::size_t>(opt.max_new_tokens));
    g.kept_mass.reserve(static_cast<std::size_t>(opt.max_new_tokens));
  }

#ifdef _OPENMP
  const int threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
#endif

  const auto batch = static_cast<std::size_t>(opt.batch_size);
  for (std::size_t first = 0; first < prompts.size(); first += batch) {
    const std::size_t rows = std::min(batch, prompts.size() - first);
    const auto chunk = prompts.subspan(first, rows);
    index_t capacity = 0;
    for (const auto& p : chunk) capacity = std::max(capacity, static_cast<index_t>(p.size()) + opt.max_new_tokens);

    std::vector<Sampler> samplers(rows, sampler);
    std::vector<sampling::candidates> work(rows);
    for (std::size_t b = 0; b < rows; ++b) {
      sampling::notify_reset(samplers[b]);
      sampling::notify_prompt(samplers[b], std::span<const token_id>(chunk[b]));
    }
    std::vector<unsigned char> done(rows, 0);
    std::vector<token_id> next(rows, -1);
    std::vector<std::exception_ptr> failure(rows);

    auto session = lm.start_session(static_cast<index_t>(rows), capacity);
    view<const float, host_space> logits = session.prefill(chunk);
    ++result.stats.lm_calls;

    for (index_t step = 0; step < opt.max_new_tokens; ++step) {
      RLHF_ASSERT(logits.rank() == 2 && logits.dim(0) == static_cast<index_t>(rows) && logits.dim(1) == vocab,
                  "the decode session returned logits of the wrong shape");
      const std::span<const token_id> banned =
          step < opt.min_new_tokens ? std::span<const token_id>(enders) : std::span<const token_id>{};
      const auto n_rows = static_cast<std::int64_t>(rows);
      auto sample_one = [&](std::int64_t bi) {
        const auto b = static_cast<std::size_t>(bi);
        if (done[b]) return;
        try {
          auto& g = result.sequences[first + b];
          const std::span<const float> row(logits.data() + bi * vocab, static_cast<std::size_t>(vocab));
          const auto s = sampling::sample_row(samplers[b], row, work[b], counter_rng(opt.seed, rng_stream(rng_purpose::sampling, static_cast<std::uint64_t>(first + b))),
                                              static_cast<std::uint64_t>(step), banned);
          sampling::notify_accept(samplers[b], s.token);
          g.tokens.push_back(s.token);
          g.model_logprobs.push_back(static_cast<float>(s.model_logprob));
          g.sampling_logprobs.push_back(static_cast<float>(s.sampling_logprob));
          g.kept_mass.push_back(static_cast<float>(s.kept_mass));
          next[b] = s.token;
          if (s.token == opt.eos_id) {
            g.finish = finish_reason::eos;
            done[b] = 1;
          } else if (std::find(opt.stop_token_ids.begin(), opt.stop_token_ids.end(), s.token) !=
                     opt.stop_token_ids.end()) {
            g.finish = finish_reason::stop_token;
            done[b] = 1;
          } else if (step + 1 == opt.max_new_tokens) {
            g.finish = finish_reason::length;
            done[b] = 1;
          }
        } catch (...) {
          failure[b] = std::current_exception();
          done[b] = 1;
        }
      };
#ifdef _OPENMP
      if (rows > 1 && threads > 1) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (std::int64_t b = 0; b < n_rows; ++b) sample_one(b);
      } else {
        for (std::int64_t b = 0; b < n_rows; ++b) sample_one(b);
      }
#else
      for (std::int64_t b = 0; b < n_rows; ++b) sample_one(b);
#endif
      for (auto& f : failure)
        if (f) std::rethrow_exception(f);

      // Stop strings: the user's callback runs serially; a row that ended on a stop string keeps
      // its finish reason (eos/stop_token/length win when the same token triggers both).
      if (!opt.stop_strings.empty() && step + 1 >= opt.min_new_tokens) {
        for (std::size_t b = 0; b < rows; ++b) {
          auto& g = result.sequences[first + b];
          if (next[b] < 0 || (done[b] && g.finish != finish_reason::length)) continue;
          const std::string text = opt.detokenize(std::span<const token_id>(g.tokens));
          for (const auto& s : opt.stop_strings)
            if (text.find(s) != std::string::npos) {
              g.finish = finish_reason::stop_string;
              done[b] = 1;
              break;
            }
        }
      }

      bool all_done = true;
      for (std::size_t b = 0; b < rows; ++b) {
        if (done[b]) next[b] = -1;  // finished rows (including the one just finished) are skipped
        all_done = all_done && done[b];
      }
      if (all_done) break;
      logits = session.step(std::span<const token_id>(next));
      ++result.stats.lm_calls;
    }
  }
  for (const auto& g : result.sequences) result.stats.new_tokens += static_cast<index_t>(g.tokens.size());
  result.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace rlhf
