// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// One sampling step for one row, with the log-prob semantics RL needs (rlhf-systems.md §4.5
/// and gap 3: engines that report log-probs renormalised over the top-p/top-k survivors bias
/// PPO's importance ratio by the kept mass).
///
/// For the sampled token a this reports
///  - `model_logprob`    = log softmax(raw logits)[a] over the full vocabulary (temperature 1,
///                         no truncation, no penalties, before any ban): the log π(a|·) that a
///                         trainer recomputes. **PPO/GRPO/RLOO use this** as log π_old, and the
///                         KL penalty to π_ref is computed on it.
///  - `sampling_logprob` = log q(a), q the distribution the token was actually drawn from (after
///                         every processor, renormalised over the kept set; 0 for greedy). Use
///                         it only for off-policy corrections (importance weights π/q, e.g.
///                         truncated importance sampling), never as π_old.
///  - `kept_mass`        = Σ_{v kept, processed logit > -inf} softmax(raw logits)[v]: the model
///                         mass of the set q was renormalised over (1 without truncation).
#include <cmath>
#include <limits>
#include <span>

#include "rlhf/core/math.hpp"
#include "rlhf/sampling/concepts.hpp"

namespace rlhf::sampling {

/// The result of one step for one row (see the file comment).
struct token_sample {
  token_id token = -1;
  double model_logprob = 0.0;
  double sampling_logprob = 0.0;
  double kept_mass = 1.0;
};

/// Samples one token from guided candidates: `work` holds the ids in play with the logits a
/// guidance computed from the model's (ARGS, FaRMA, GenARM, or the model's own for plain
/// sampling); `logits` is the model's raw row (V), from which model_logprob and kept_mass are
/// computed, so guidance never corrupts log π. Ids in `banned` present in `work` get -inf.
/// @throws rlhf::numerical_error on NaN/+inf logits; rlhf::invalid_argument on a banned id
///         outside [0, V).
template <sampler S>
token_sample sample_guided(S& s, std::span<const float> logits, candidates& work, const counter_rng& rng,
                           std::uint64_t counter, std::span<const token_id> banned = {}) {
  if (!banned.empty()) {
    auto l = work.logits();
    for (token_id b : banned) {
      RLHF_EXPECTS(b >= 0 && static_cast<std::size_t>(b) < logits.size(), "sample_row: banned id ", b,
                   " is outside the vocabulary [0, ", logits.size(), ")");
      const index_t i = work.locate(b);
      if (i >= 0) l[static_cast<std::size_t>(i)] = -std::numeric_limits<float>::infinity();
    }
  }
  const double lse = math::logsumexp(logits);
  const sampled r = s.sample(work, rng, counter);
  RLHF_ASSERT(r.token >= 0 && static_cast<std::size_t>(r.token) < logits.size(), "sampler returned id ", r.token);
  token_sample out;
  out.token = r.token;
  out.model_logprob = static_cast<double>(logits[static_cast<std::size_t>(r.token)]) - lse;
  out.sampling_logprob = r.sampling_logprob;
  double kept = 0.0;
  const auto ids = work.ids();
  const auto pl = work.logits();
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (pl[i] != -std::numeric_limits<float>::infinity())
      kept += std::exp(static_cast<double>(logits[static_cast<std::size_t>(ids[i])]) - lse);
  out.kept_mass = std::min(kept, 1.0);
  return out;
}

/// Samples one token from one row of raw logits (V): fills `work` with ids 0..V-1, sets the
/// logits of `banned` ids to -inf (EOS before min_new_tokens), runs the sampler.
/// @throws rlhf::numerical_error on NaN/+inf logits; rlhf::invalid_argument on a banned id
///         outside [0, V).
template <sampler S>
token_sample sample_row(S& s, std::span<const float> logits, candidates& work, const counter_rng& rng,
                        std::uint64_t counter, std::span<const token_id> banned = {}) {
  work.assign(logits);
  return sample_guided(s, logits, work, rng, counter, banned);
}

}  // namespace rlhf::sampling
