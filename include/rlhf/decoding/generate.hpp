// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Batched sampling from any `rlhf::language_model` with its KV-cache session (prefill once, then
/// one `step` per new token; finished rows are passed as -1 and cost nothing): the decode loop
/// of decoding/decode_loop.hpp with no guidance. Prompts are processed in chunks of
/// `batch_size` rows.
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
#include <span>
#include <vector>

#include "rlhf/decoding/guided_decoder.hpp"

namespace rlhf {

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
  guided_decoder<Model, guide::none, Sampler> plain(lm, guide::none{}, sampler);
  return plain.generate(prompts, opt);
}

}  // namespace rlhf
