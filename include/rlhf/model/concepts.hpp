// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The model roles (DESIGN.md: CausalLM, Trainable, SequenceScorer, TokenScorer), named after
/// what their numbers ARE, so that a composition that mixes them up does not compile:
///
///  - `language_model`: per-token log-probabilities of the given tokens, and decode sessions
///    whose calls return next-token logits (policies, reference models, SFT, `generate`).
///  - `value_model`: one number per position — a reward at the last token, a critic V_t at
///    every position, a CD prefix value (scalar heads); sessions return `value_rows`.
///  - `token_reward_model`: V numbers per position, R(s, a^{<t})[v] for every next token v in
///    one call (FaRMA, GenARM); sessions return `token_reward_rows`.
///  - `differentiable_model`: forward keeps activations, backward accumulates parameter
///    gradients; what every trainer needs in addition to a role.
///  - `model_session<S, Result>`: the one incremental-session concept, parameterised by the
///    result type of its calls.
///
/// Numbers of different meaning often have the same shape ((B, T) log-probs and (B, T) values),
/// so shape cannot tell the roles apart: every model opts in with a tag, `static constexpr
/// model_role role`, and every concept checks the tag as well as the calls. Session results are
/// distinct types for the same reason: a value or a token-reward row never converts to logits.
///
/// Every shipped model has `static_assert`s for the roles it models beside its definition.
#include <concepts>
#include <cstdint>
#include <span>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "rlhf/core/view.hpp"
#include "rlhf/data/token_batch.hpp"

namespace rlhf {

/// What a model's outputs mean (the opt-in tag of every model: `static constexpr model_role role`).
enum class model_role {
  log_probs,      ///< out(b, t) = log p(tokens(b, t) | tokens(b, < t)); sessions give next-token logits
  values,         ///< out(b, t) = V(s, a^{≤t}): rewards, critics, CD values
  token_rewards,  ///< out(b, t, v) = R(s, a^{≤t})[v]: FaRMA / GenARM token reward models
};

/// The role tag of M (a model without one has no role and models none of the concepts below).
template <class M>
concept has_role = requires {
  { M::role } -> std::convertible_to<model_role>;
};
template <class M, model_role R>
concept of_role = has_role<M> && M::role == R;

/// Next-token logits of some session rows, (n, V) on the host (a language model's session).
using logit_rows = view<const float, host_space>;

/// Values of a value model's session, (n, 1) on the host: V(s, a^{≤i}) for every queried row.
/// A distinct type so that a reward model's values are never mistaken for next-token logits.
struct value_rows {
  view<const float, host_space> values;  // (n, 1)
  index_t size() const noexcept { return values.size(); }
  float operator[](index_t i) const noexcept { return values[i]; }
};

/// Token rewards of a token reward model's session, (n, V) on the host: R(s, a^{≤i})[v].
/// Shaped like logits but not logits: sampling them as a language model's would be a bug.
struct token_reward_rows {
  view<const float, host_space> rewards;  // (n, V)
  index_t rows() const noexcept { return rewards.dim(0); }
  index_t width() const noexcept { return rewards.dim(1); }
  std::span<const float> row(index_t i) const noexcept {
    return {rewards.data() + i * rewards.dim(1), static_cast<std::size_t>(rewards.dim(1))};
  }
};

/// An incremental session over `rows()` sequences sharing one cache allocation, whose calls
/// return `Result`:
/// - `prefill(prompts)`: starts row b with prompts[b] (1 <= size <= capacity) and returns the
///   output after each row's last prompt token, (rows, width);
/// - `step(tokens)`: appends tokens[b] to row b and returns the output (rows, width); a negative
///   token leaves row b untouched (a finished row; its output row is unspecified);
/// - `score_candidates(row, candidates)`: the output after appending each of k candidate tokens
///   to `row`, as k one-token queries against the row's shared prefix (ARGS, PARGS, CD); the
///   session is not changed;
/// - `length(row)`: tokens in the row so far; `truncate(row, n)`: roll it back to n tokens.
template <class S, class Result>
concept model_session = requires(S& s, const S& cs, std::span<const std::vector<token_id>> prompts,
                                 std::span<const token_id> tokens, index_t row) {
  { s.prefill(prompts) } -> std::same_as<Result>;
  { s.step(tokens) } -> std::same_as<Result>;
  { s.score_candidates(row, tokens) } -> std::same_as<Result>;
  { cs.length(row) } -> std::convertible_to<index_t>;
  s.truncate(row, row);
  { cs.rows() } -> std::convertible_to<index_t>;
};

/// A session that search-based decoders can branch and roll back (model_session plus):
/// - `extend(token_lists)`: appends tokens_lists[b] (possibly empty; the row may be empty) to
///   every row in ONE pass and returns the output after each extended row's last new token;
///   `extend(row, tokens)` the same for one row, (1, width);
/// - `score_candidates(rows, tokens)`: candidate i = (rows[i], tokens[i]) scored as one-token
///   queries against the rows' prefix caches in one pass, (n, width), rows unchanged;
/// - `commit_candidates(picks)`: appends scored candidates (at most one per row) without
///   another pass — ARGS's accepted token costs no reward-model step;
/// - `copy_row(src, dst)`: row dst becomes a copy of row src (llama.cpp's seq_cp).
/// Any call that changes the session drops the candidates not yet committed.
template <class S, class Result>
concept search_session = model_session<S, Result> &&
                         requires(S& s, std::span<const std::vector<token_id>> lists, std::span<const token_id> tokens,
                                  std::span<const index_t> rows, index_t row) {
                           { s.extend(lists) } -> std::same_as<Result>;
                           { s.extend(row, tokens) } -> std::same_as<Result>;
                           { s.score_candidates(rows, tokens) } -> std::same_as<Result>;
                           s.commit_candidates(rows);
                           s.copy_row(row, row);
                         };

/// What every role shares: a vocabulary, a longest sequence, and sessions of result `Result`.
template <class M, class Result>
concept sessioned_model = requires(M& m, const M& cm, index_t n) {
  { cm.vocab_size() } -> std::convertible_to<index_t>;
  { cm.max_positions() } -> std::convertible_to<index_t>;
  { m.start_session(n, n) } -> model_session<Result>;
};

/// A model whose sessions are search sessions (every shipped model; a test double need not be).
template <class M, class Result>
concept search_model = sessioned_model<M, Result> && requires(M& m, index_t n) {
  { m.start_session(n, n) } -> search_session<Result>;
};

/// A language model: `score(batch)` gives per-token log-probs (B, T) — out(b, t) =
/// log p(tokens(b, t) | tokens(b, < t)) for 1 <= t < length(b), 0 at t = 0 and at padding — through
/// the inference path (no activations kept), and its sessions return next-token logits.
template <class M>
concept language_model = of_role<M, model_role::log_probs> && sessioned_model<M, logit_rows> &&
                         requires(M& m, const token_batch& batch) {
                           { m.score(batch) } -> std::convertible_to<xt::xtensor<float, 2>>;
                         };

/// A value model: `score(batch)` gives one value per valid position (B, T) — read at the last
/// non-padding token it is a sequence reward (Bradley–Terry), at every position a critic or a CD
/// prefix value — and its sessions return value_rows.
template <class M>
concept value_model = of_role<M, model_role::values> && sessioned_model<M, value_rows> &&
                      requires(M& m, const token_batch& batch) {
                        { m.score(batch) } -> std::convertible_to<xt::xtensor<float, 2>>;
                      };

/// A token reward model: `score_tokens(batch)` gives V rewards per position (B, T, V) in one
/// call, and its sessions return token_reward_rows.
template <class M>
concept token_reward_model = of_role<M, model_role::token_rewards> && sessioned_model<M, token_reward_rows> &&
                             requires(M& m, const token_batch& batch) {
                               { m.score_tokens(batch) } -> std::convertible_to<xt::xtensor<float, 3>>;
                             };

/// The gathered read-out of a token reward model over a batch, (B, T) host tensors each: the
/// numbers FaRMA's losses need (Rashid et al. 2025; ALGORITHMS.md §5), gathered on the backend so
/// the (B, T, V) rewards never leave it. With out(b, t, v) = R(s, tokens(b, ≤ t))[v]:
///  - picked(b, t) = out(b, t - 1, tokens(b, t)) = r(s, tokens(b, ≤ t)), the reward of the
///    prefix ending at t, for 1 <= t < length(b) (aligned as a language model's log-probs; 0 at
///    t = 0 and at padding). The sequence reward is picked(b, length(b) - 1);
///  - max(b, t) = max_v out(b, t, v), the best one-token extension of the prefix ending at t,
///    for 0 <= t < length(b) (0 at padding), and argmax(b, t) its lowest maximising v (-1 at
///    padding).
/// So FaRMA's consistency term at a response position t is picked(b, t) - max(b, t).
template <class T>
struct picked_rewards {
  xt::xtensor<T, 2> picked;
  xt::xtensor<T, 2> max;
  xt::xtensor<std::int32_t, 2> argmax;
};

/// A token reward model with the gathered read-out (token_reward_model plus):
/// `forward_picked(batch)` -> picked_rewards (training path, keeps activations),
/// `backward_picked(d_picked, d_max)` accumulates (+=) the parameter gradients of
/// Σ d_picked ⊙ picked + Σ d_max ⊙ max for the batch of the last forward_picked (the max's
/// gradient goes to its argmax), and `score_picked(batch)` the same read-out through the
/// inference path.
template <class M>
concept token_reward_readout = token_reward_model<M> && requires(M& m, const token_batch& batch) {
  { m.score_picked(batch).picked } -> std::convertible_to<xt::xtensor<typename M::value_type, 2>>;
  m.backward_picked(m.forward_picked(batch).picked, m.forward_picked(batch).max);
};

/// A model with parameters and gradients: `forward(batch)` computes the outputs of its role
/// keeping activations (the only call that does), `backward(d_outputs)` accumulates (+=)
/// parameter gradients for the batch of the last forward, `zero_grad()` clears them. Optimizers
/// reach the tensors through `parameters()` / `gradients()` (one flat backend view each) and
/// `named_parameters()` (one entry per tensor, Hugging Face names).
template <class M>
concept differentiable_model = has_role<M> && requires(M& m, const M& cm, const token_batch& batch) {
  m.zero_grad();
  { cm.parameter_count() } -> std::convertible_to<index_t>;
  m.parameters();
  m.gradients();
  m.named_parameters();
  m.backward(m.forward(batch));
};

}  // namespace rlhf
