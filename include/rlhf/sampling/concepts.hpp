// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The sampling concepts (roles `LogitProcessor` and `Sampler` in DESIGN.md), llama.cpp's
/// sampler interface made static (house style §5, §8.3):
///
///  - `logit_processor`: opts in with `using rlhf_concept = rlhf::logit_processor_tag;` and has
///    `apply(candidates&)`, which may rescale/shift logits, drop entries or reorder them
///    (keeping `candidates::sorted()` truthful).
///  - `selector`: opts in with `rlhf::selector_tag`; `select(const candidates&, const
///    counter_rng&, counter) -> token_id` picks one kept id, and `log_prob(const candidates&,
///    token)` is the log-probability of that pick under the selector's own distribution (0 for
///    greedy), which is the "sampling log-prob" reported beside the model's log-prob.
///  - optional hooks, detected with `if constexpr` so stateless stages pay nothing:
///    `sampling::stateful` (`accept(token)` after each chosen token, `reset()` before a new
///    sequence) and `sampling::prompt_aware` (`observe_prompt(prompt ids)` after reset).
///  - `sampler`: anything with `sample(candidates&, const counter_rng&, counter) -> sampled`
///    (`sampling::chain`, `sampling::any_sampler`); `generate` and the guided decoders take one.
#include <concepts>
#include <cstdint>
#include <span>
#include <type_traits>

#include "rlhf/core/rng.hpp"
#include "rlhf/core/view.hpp"
#include "rlhf/sampling/candidates.hpp"

namespace rlhf {

/// Opt-in tag of `logit_processor`.
struct logit_processor_tag {};
/// Opt-in tag of `selector`.
struct selector_tag {};

namespace detail {
template <class P>
concept declares_logit_processor = std::derived_from<typename P::rlhf_concept, logit_processor_tag>;
template <class S>
concept declares_selector = std::derived_from<typename S::rlhf_concept, selector_tag>;
}  // namespace detail

/// Specialise to true to opt a third-party type into `logit_processor` without editing it.
template <class P>
inline constexpr bool enable_logit_processor = detail::declares_logit_processor<P>;
/// Specialise to true to opt a third-party type into `selector` without editing it.
template <class S>
inline constexpr bool enable_selector = detail::declares_selector<S>;

/// A stage that transforms the candidate set. Semantic promise: ids stay a subset of the input
/// ids, and `sorted()` is true afterwards only if the entries are in the canonical order.
template <class P>
concept logit_processor = enable_logit_processor<std::remove_cvref_t<P>> &&
                          requires(P& p, sampling::candidates& c) { p.apply(c); };

/// A stage that picks one id from the candidates. Semantic promise: the pick is a function of
/// (the kept set and its logits, rng, counter) only, never of the entry order, so a row gives
/// the same token for any batch size and thread count; `log_prob` is the log-probability of
/// `token` under the distribution `select` draws from.
template <class S>
concept selector = enable_selector<std::remove_cvref_t<S>> &&
                   requires(S& s, const sampling::candidates& c, const counter_rng& rng,
                            std::uint64_t counter, token_id t) {
                     { s.select(c, rng, counter) } -> std::convertible_to<token_id>;
                     { s.log_prob(c, t) } -> std::convertible_to<double>;
                   };

namespace sampling {

/// Optional hook of a stage that keeps per-sequence state (penalties, mirostat's μ).
template <class S>
concept stateful = requires(S& s, token_id t) {
  s.accept(t);
  s.reset();
};
/// Optional hook of a stage that also looks at the prompt (the CTRL repetition penalty).
template <class S>
concept prompt_aware = requires(S& s, std::span<const token_id> prompt) { s.observe_prompt(prompt); };

/// What a sampler returns for one row and step.
struct sampled {
  token_id token = -1;
  /// log q(token): q is the final distribution the selector drew from (after every processor;
  /// renormalised over the kept candidates; 0 for greedy).
  double sampling_logprob = 0.0;
};

/// Broadcast helpers: call the hook when the stage has it, do nothing otherwise.
template <class S>
void notify_accept(S& s, token_id t) {
  if constexpr (stateful<S>) s.accept(t);
}
template <class S>
void notify_reset(S& s) {
  if constexpr (stateful<S>) s.reset();
}
template <class S>
void notify_prompt(S& s, std::span<const token_id> prompt) {
  if constexpr (prompt_aware<S>) s.observe_prompt(prompt);
}

}  // namespace sampling

/// A whole sampling pipeline for one row: processors then a selector.
template <class S>
concept sampler = std::copy_constructible<S> &&
                  requires(S& s, sampling::candidates& c, const counter_rng& rng, std::uint64_t counter) {
                    { s.sample(c, rng, counter) } -> std::same_as<sampling::sampled>;
                  };

}  // namespace rlhf
