// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The model every policy-optimisation trainer (DPO family, PPO, RLOO, GRPO) trains.
#include <utility>
#include <variant>

#include "rlhf/model/concepts.hpp"

namespace rlhf::train {

/// A policy: a language model whose forward gives the per-token log-probs it differentiates
/// (tabular_lm, transformer<Backend, lm_head>). A reward or value model is refused at compile time.
template <class M>
concept policy_model = language_model<M> && differentiable_model<M>;

namespace detail {
/// Calls f with the concrete policy type: `x` itself, or the alternative a run-time choice
/// (std::variant such as any_preference_loss, any_divergence) holds.
template <class X, class F>
decltype(auto) visit_policy(const X& x, F&& f) {
  if constexpr (requires { x.index(); x.valueless_by_exception(); }) return std::visit(std::forward<F>(f), x);
  else return std::forward<F>(f)(x);
}
}  // namespace detail

}  // namespace rlhf::train
