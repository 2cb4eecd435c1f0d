// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The closed-form optimum of KL-regularised reward maximisation and exact distances to it:
/// the oracles that DPO and PPO converge to on bandits.
#include <cmath>
#include <vector>

#include "rlhf/core/math.hpp"
#include "rlhf/objective/real_span.hpp"
#include "rlhf/objective/concepts.hpp"
#include "rlhf/objective/reverse_kl.hpp"

namespace rlhf {

/// π* of one prompt, as log-probabilities, and its log-partition log Z.
struct kl_optimum_result {
  std::vector<double> log_probs;  ///< (V) log π*(a) = log π_ref(a) + r(a)/β - log Z
  double log_partition = 0.0;     ///< log Z = log Σ_a π_ref(a) exp(r(a)/β)
};

namespace detail {
inline void expect_bandit_row(real_span ref_log_probs, real_span rewards, double beta, const char* who) {
  detail::expect_positive(beta, "beta");
  RLHF_EXPECTS(!ref_log_probs.empty(), who, ": the reference row is empty; pass one log-probability per action");
  detail::expect_size(rewards, ref_log_probs.size(), "rewards", "ref_log_probs");
  detail::expect_finite(rewards, "rewards");
  for (std::size_t v = 0; v < ref_log_probs.size(); ++v)
    if (std::isnan(ref_log_probs[v]) || ref_log_probs[v] == HUGE_VAL) [[unlikely]]
      RLHF_THROW(numerical_error, who, ": ref_log_probs[", v, "] = ", ref_log_probs[v],
                 " is not a log-probability; check the reference model's outputs");
}
}  // namespace detail

/// The optimum of `max_π E_π r - β KL(π ‖ π_ref)` (Rafailov et al. 2023, eq. 4; Peters &
/// Schaal 2007; ALGORITHMS.md §4): `π*(a) = π_ref(a) exp(r(a)/β) / Z`, computed as
/// `log_softmax(log π_ref + r/β)` so that large r/β neither overflows nor loses the small
/// entries. Actions with π_ref(a) = 0 (log = -inf) keep probability 0.
/// @param ref_log_probs (V) log π_ref(·|s), normalised.
/// @param rewards       (V) r(s, ·).
/// @param beta          β > 0.
/// @throws rlhf::invalid_argument on β ≤ 0, a size mismatch, an empty row or a row of zero
///         probabilities; rlhf::numerical_error for a non-finite reward or a NaN / +inf
///         log-probability.
inline kl_optimum_result kl_optimum(real_span ref_log_probs, real_span rewards, double beta) {
  detail::expect_bandit_row(ref_log_probs, rewards, beta, "rlhf::kl_optimum");
  const std::size_t n = ref_log_probs.size();
  kl_optimum_result r;
  r.log_probs.resize(n);
  for (std::size_t v = 0; v < n; ++v) r.log_probs[v] = ref_log_probs[v] + rewards[v] / beta;
  r.log_partition = math::logsumexp(std::span<const double>(r.log_probs));
  RLHF_EXPECTS(std::isfinite(r.log_partition), "rlhf::kl_optimum: the reference row gives every action "
                                               "probability 0");
  for (double& x : r.log_probs) x -= r.log_partition;
  return r;
}

/// Exact KL(π ‖ π*) for one prompt, with π* = kl_optimum(ref_log_probs, rewards, beta): 0 exactly
/// at the optimum; what the bandit tests of DPO and PPO drive towards 0.
/// @param log_probs (V) log π(·|s) of the policy under test.
inline double kl_to_optimum(real_span log_probs, real_span ref_log_probs, real_span rewards, double beta) {
  const kl_optimum_result opt = kl_optimum(ref_log_probs, rewards, beta);
  return divergences::reverse_kl{}.value(log_probs, opt.log_probs);
}

/// The KL-regularised objective `J(π) = Σ_a π(a) r(a) - β KL(π ‖ π_ref)` of one prompt. It equals
/// `β log Z - β KL(π ‖ π*)` (the identity behind DPO), so π* maximises it with value β log Z.
inline double kl_regularized_objective(real_span log_probs, real_span ref_log_probs, real_span rewards,
                                       double beta) {
  detail::expect_bandit_row(ref_log_probs, rewards, beta, "rlhf::kl_regularized_objective");
  const double kl = divergences::reverse_kl{}.value(log_probs, ref_log_probs);  // validates log_probs
  double expected = 0.0;
  for (std::size_t v = 0; v < log_probs.size(); ++v)
    if (log_probs[v] != -HUGE_VAL) expected += std::exp(log_probs[v]) * rewards[v];
  return expected - beta * kl;
}

namespace detail {
/// Solves f′(u) = c for log u by bisection (f′ increases with u since f is convex); a c beyond the
/// range of f′ gives the end of the bracket (u → 0 or u → ∞, clamped to exp(∓700)).
template <divergence Div>
double inverse_f_prime_log(const Div& div, double c) {
  double lo = -700.0, hi = 700.0;
  if (div.f_prime_log(lo) >= c) return lo;
  if (div.f_prime_log(hi) <= c) return hi;
  for (int it = 0; it < 200 && hi - lo > 1e-15 * std::max(1.0, std::abs(lo) + std::abs(hi)); ++it) {
    const double mid = 0.5 * (lo + hi);
    (div.f_prime_log(mid) < c ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}
}  // namespace detail

/// The optimum of `max_π E_π r - β D_f(π ‖ π_ref)` over the distributions of one prompt, for any
/// f-divergence (Wang et al. 2023, "Beyond Reverse KL", Thm. 1; ALGORITHMS.md §4): the stationarity
/// condition of the Lagrangian is `f′(π*(a)/π_ref(a)) = (r(a) - λ)/β`, with the one multiplier λ
/// chosen so that π* sums to one. Solved numerically (bisection on λ around an inner bisection
/// inverting f′), so it holds for every divergence the concept admits; for reverse KL it equals
/// kl_optimum's softmax (λ = β (log Z - 1)), for forward KL it is `π_ref β / (λ - r)`.
/// f-DPO with exact preferences converges to this π*: the bandit oracle checks it.
/// @return (V) log π*(·|s); actions with π_ref(a) = 0 keep probability 0.
/// @throws as kl_optimum.
template <divergence Div>
std::vector<double> f_divergence_optimum(real_span ref_log_probs, real_span rewards, double beta, const Div& div) {
  detail::expect_bandit_row(ref_log_probs, rewards, beta, "rlhf::f_divergence_optimum");
  const std::size_t n = ref_log_probs.size();
  std::vector<double> log_u(n);
  // mass(λ) = Σ π_ref(a) u_a(λ), decreasing in λ.
  const auto mass = [&](double lambda) {
    double m = 0.0;
    for (std::size_t v = 0; v < n; ++v) {
      if (ref_log_probs[v] == -HUGE_VAL) continue;
      log_u[v] = detail::inverse_f_prime_log(div, (rewards[v] - lambda) / beta);
      m += std::exp(std::min(ref_log_probs[v] + log_u[v], 700.0));
    }
    return m;
  };
  double r_max = -HUGE_VAL;
  for (std::size_t v = 0; v < n; ++v) r_max = std::max(r_max, rewards[v]);
  double lo = r_max - beta, hi = r_max + beta, step = beta;
  for (int i = 0; i < 200 && mass(lo) < 1.0; ++i) lo -= (step *= 2.0);
  step = beta;
  for (int i = 0; i < 200 && mass(hi) > 1.0; ++i) hi += (step *= 2.0);
  RLHF_EXPECTS(mass(lo) >= 1.0 && mass(hi) <= 1.0, "rlhf::f_divergence_optimum: no multiplier normalises the "
               "optimum; check that the divergence's f′ is increasing and the rewards are of moderate size");
  for (int it = 0; it < 300 && hi - lo > 1e-15 * std::max(1.0, std::abs(lo)); ++it) {
    const double mid = 0.5 * (lo + hi);
    (mass(mid) > 1.0 ? lo : hi) = mid;
  }
  const double m = mass(0.5 * (lo + hi));
  std::vector<double> out(n, -HUGE_VAL);
  for (std::size_t v = 0; v < n; ++v)
    if (ref_log_probs[v] != -HUGE_VAL) out[v] = ref_log_probs[v] + log_u[v] - std::log(m);
  return out;
}

}  // namespace rlhf
