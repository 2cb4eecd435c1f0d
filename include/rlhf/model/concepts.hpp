// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The model concepts (roles in DESIGN.md: CausalLM, Trainable, SequenceScorer, TokenScorer).
///
///  - `decode_session`: an incremental decoder over a batch of rows with a KV cache.
///  - `causal_lm`: a next-token model that can open decode sessions (generation, guided decoding).
///  - `sequence_scorer`: maps a token_batch to one number per position (B, T) in one forward
///    pass: per-token log-probs of the given tokens (lm_head), values / rewards (scalar_head).
///  - `token_scorer`: maps a token_batch to V numbers per position (B, T, V) in one pass
///    (token_reward_head: FaRMA, GenARM).
///  - `trainable`: a scorer whose forward keeps activations and whose backward accumulates
///    parameter gradients from the gradient of its outputs.
///
/// Every shipped model has `static_assert`s for the concepts it models beside its definition.
#include <concepts>
#include <cstdint>
#include <span>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "rlhf/core/view.hpp"
#include "rlhf/data/token_batch.hpp"

namespace rlhf {

/// An incremental decoder over `rows()` sequences that share one KV cache allocation.
///
/// - `prefill(prompts)`: starts row b with prompts[b] (1 <= size <= capacity) and returns the
///   next-token logits of every row, (B, V) on the host.
/// - `step(tokens)`: appends tokens[b] to row b and returns the next-token logits (B, V);
///   a negative token leaves row b untouched (a finished row) and its logits row is unspecified.
/// - `score_candidates(row, candidates)`: the next-token logits (k, V) after appending each of
///   k candidate tokens to `row`, as k one-token queries against the row's shared prefix cache;
///   the session is not changed (ARGS, PARGS, CD scoring).
/// - `length(row)`: tokens in row so far; `truncate(row, n)`: roll the row back to n tokens.
template <class S>
concept decode_session = requires(S& s, const S& cs, std::span<const std::vector<token_id>> prompts,
                                  std::span<const token_id> tokens, index_t row) {
  { s.prefill(prompts) } -> std::convertible_to<view<const float, host_space>>;
  { s.step(tokens) } -> std::convertible_to<view<const float, host_space>>;
  { s.score_candidates(row, tokens) } -> std::convertible_to<view<const float, host_space>>;
  { cs.length(row) } -> std::convertible_to<index_t>;
  s.truncate(row, row);
  { cs.rows() } -> std::convertible_to<index_t>;
};

/// A causal language model that decodes incrementally: `start_session(rows, capacity)` opens a
/// decode_session for `rows` sequences of at most `capacity` tokens each.
template <class M>
concept causal_lm = requires(M& m, const M& cm, index_t n) {
  { cm.vocab_size() } -> std::convertible_to<index_t>;
  { cm.max_positions() } -> std::convertible_to<index_t>;
  { m.start_session(n, n) } -> decode_session;
};

/// One number per position from one forward pass: out(b, t) for every valid position.
/// For an LM head, out(b, t) = log p(tokens(b, t) | tokens(b, < t)) for t >= 1 and 0 at t = 0.
template <class M>
concept sequence_scorer = requires(M& m, const token_batch& batch) {
  { m.score(batch) } -> std::convertible_to<xt::xtensor<float, 2>>;
};

/// V numbers per position from one forward pass: out(b, t, v) (token reward heads).
template <class M>
concept token_scorer = requires(M& m, const token_batch& batch) {
  { m.score_tokens(batch) } -> std::convertible_to<xt::xtensor<float, 3>>;
};

/// A model with parameters and gradients: `forward(batch)` computes the head's outputs keeping
/// activations, `backward(d_outputs)` accumulates parameter gradients (+=), `zero_grad()`
/// clears them; `parameter_count()`; optimizers reach the parameters through
/// `parameters()` / `gradients()` (one flat backend view each).
template <class M>
concept trainable = requires(M& m, const M& cm) {
  m.zero_grad();
  { cm.parameter_count() } -> std::convertible_to<index_t>;
  m.parameters();
  m.gradients();
};

}  // namespace rlhf
