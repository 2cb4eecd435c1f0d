// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The two policy concepts of the objective module: `preference_loss` and `divergence`.
///
/// Both carry meaning the compiler cannot check (a loss must be a function of the margin
/// alone; a divergence's f′ must belong to a convex f with f(1) = 0), so a type opts in with
/// a nested tag (house style §8.3): `using rlhf_concept = rlhf::preference_loss_tag;` or
/// `using rlhf_concept = rlhf::divergence_tag;`. Third-party types opt in by specialising
/// `rlhf::enable_preference_loss<T>` / `rlhf::enable_divergence<T>` to true.
///
/// Divergence types live in namespace `rlhf::divergences` (not `rlhf::divergence`, which
/// DESIGN.md sketches) because the concept itself is `rlhf::divergence`.
#include <cmath>
#include <concepts>
#include <type_traits>

#include "rlhf/objective/real_span.hpp"

namespace rlhf {

// ---- preference losses ----------------------------------------------------------------

/// Opt-in tag of the preference_loss concept.
struct preference_loss_tag {};

template <class L>
concept declares_preference_loss = requires { typename L::rlhf_concept; } &&
                                   std::derived_from<typename L::rlhf_concept, preference_loss_tag>;

/// Specialise to true to opt a third-party type into `preference_loss`.
template <class L>
inline constexpr bool enable_preference_loss = declares_preference_loss<L>;

/// @concept preference_loss
/// A loss of one preference pair as a function of its margin (ALGORITHMS.md §2 and §4).
///
/// Syntactic requirements (checked):
///   - `l.value(h, beta)` -> double: the loss at margin h;
///   - `l.grad(h, beta)`  -> double: d value / dh at fixed beta.
/// The margin is `h = β (Δ(a_w) - Δ(a_l))` in DPO (Δ = log π - log π_ref, or
/// `β (f′(u_w) - f′(u_l))` in f-DPO) and `h = r(a_w) - r(a_l)` in reward modelling, where the
/// scale is `beta = 1`. `beta` is the factor by which h was scaled; losses that are functions
/// of h alone ignore it, IPO reads it because its target margin 1/(2β) lives on the unscaled
/// difference h/β. The shipped losses default `beta` to 1, so `l.value(h)` is reward modelling.
/// Semantic requirements (promised by opting in, verified by the tests):
///   - value and grad are finite for every finite h (margins of ±1e4 included);
///   - grad is the derivative of value (finite-difference check in double precision);
///   - value does not increase with h (a larger margin for the preferred response never
///     costs more), except IPO which regresses h to a target.
/// Models: loss::sigmoid, loss::hinge, loss::ipo, loss::conservative, loss::robust.
template <class L>
concept preference_loss = enable_preference_loss<std::remove_cvref_t<L>> &&
                          requires(const std::remove_cvref_t<L>& l, double h, double beta) {
                            { l.value(h, beta) } -> std::convertible_to<double>;
                            { l.grad(h, beta) } -> std::convertible_to<double>;
                          };

// ---- divergences ----------------------------------------------------------------------

/// Opt-in tag of the divergence concept.
struct divergence_tag {};

template <class D>
concept declares_divergence = requires { typename D::rlhf_concept; } &&
                              std::derived_from<typename D::rlhf_concept, divergence_tag>;

/// Specialise to true to opt a third-party type into `divergence`.
template <class D>
inline constexpr bool enable_divergence = declares_divergence<D>;

/// @concept divergence
/// An f-divergence `D_f(p ‖ q) = Σ_v q_v f(p_v / q_v)` with f convex and f(1) = 0
/// (Wang et al. 2023, "Beyond Reverse KL", ALGORITHMS.md §4). In DPO and PPO, p = π (the
/// policy) and q = π_ref, so u = π/π_ref and `D_f(π ‖ π_ref)` is the regulariser.
///
/// Syntactic requirements (checked):
///   - `d.f_prime_log(log_u)` -> double: f′(u) evaluated from log u (log space, so a
///     sequence-level ratio of exp(±1e3) neither overflows nor underflows);
///   - `d.f_prime_log_grad(log_u)` -> double: d f′(u) / d log u = u f″(u);
///   - `d.value(logp, logq)` -> double: D_f(p ‖ q) for one categorical row given as
///     log-probabilities (real_span of V entries each).
/// Semantic requirements (promised by opting in, verified by the tests):
///   - f′ is the derivative of the f that value uses: ∂ value / ∂ log p_v = p_v f′(p_v/q_v);
///   - f_prime_log_grad is the derivative of f_prime_log;
///   - value(p, p) = 0 and value ≥ 0 for normalised p and q.
/// Models: divergences::reverse_kl, divergences::forward_kl, divergences::js,
/// divergences::alpha.
template <class D>
concept divergence = enable_divergence<std::remove_cvref_t<D>> &&
                     requires(const std::remove_cvref_t<D>& d, double log_u, real_span logp, real_span logq) {
                       { d.f_prime_log(log_u) } -> std::convertible_to<double>;
                       { d.f_prime_log_grad(log_u) } -> std::convertible_to<double>;
                       { d.value(logp, logq) } -> std::convertible_to<double>;
                     };

namespace detail {
/// Validates two log-probability rows for divergences::*::value: same length
/// (rlhf::invalid_argument), no NaN and no +inf (rlhf::numerical_error: a model output gone
/// wrong); -inf is a zero probability and is allowed.
inline void expect_log_prob_rows(real_span logp, real_span logq, const char* who) {
  if (logp.size() != logq.size()) [[unlikely]]
    RLHF_THROW(invalid_argument, who, ": logp has ", logp.size(), " entries and logq ", logq.size(),
               "; both rows must cover the same vocabulary");
  for (std::size_t v = 0; v < logp.size(); ++v) {
    if (std::isnan(logp[v]) || logp[v] == HUGE_VAL) [[unlikely]]
      RLHF_THROW(numerical_error, who, ": logp[", v, "] = ", logp[v],
                 " is not a log-probability; check the model outputs that produced it");
    if (std::isnan(logq[v]) || logq[v] == HUGE_VAL) [[unlikely]]
      RLHF_THROW(numerical_error, who, ": logq[", v, "] = ", logq[v],
                 " is not a log-probability; check the model outputs that produced it");
  }
}
}  // namespace detail

}  // namespace rlhf
