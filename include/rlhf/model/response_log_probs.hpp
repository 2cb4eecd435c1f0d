// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// log π(a|s) of every response of a batch under a language model, through its inference path:
/// the reference-model read-out of DPO (Rafailov et al. 2023, eq. 7: log π_ref(y|x)) and of the
/// KL penalty of PPO (ALGORITHMS.md §3, §4), and the policy's when no gradient is needed.
/// Only response tokens count (prompt and padding never do); a reward or token-reward model is
/// refused at compile time (it models value_model / token_reward_model, not language_model).
#include <xtensor/xtensor.hpp>

#include "rlhf/data/response_view.hpp"
#include "rlhf/data/token_batch.hpp"
#include "rlhf/model/concepts.hpp"

namespace rlhf {

/// Per-token log-probs of each response, response-aligned: `logps` (B, R) with row b's response
/// token j at column j, and the view that produced it (its lengths() say how many are valid).
struct response_token_log_probs {
  data::response_view view;
  xt::xtensor<double, 2> logps;
};

/// Per-token response log-probs of `batch` under `lm` (score(): no activations are kept).
/// @throws rlhf::invalid_argument for a malformed batch (response tokens not contiguous, ...)
template <language_model Model>
response_token_log_probs token_log_probs(Model& lm, const token_batch& batch) {
  data::response_view view(batch);
  auto logps = view.gather(lm.score(batch));
  return {std::move(view), std::move(logps)};
}

/// Σ_t log π(a^t | s, a^{<t}) over each response of `batch` (B), or its mean per response token
/// with `length_normalised` (SimPO / length-normalised DPO).
template <language_model Model>
xt::xtensor<double, 1> response_log_probs(Model& lm, const token_batch& batch, bool length_normalised = false) {
  return data::response_view(batch).sums(lm.score(batch), length_normalised);
}

}  // namespace rlhf
