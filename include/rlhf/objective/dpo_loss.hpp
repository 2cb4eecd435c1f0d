// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The DPO family's loss on per-sequence log-probabilities: any preference loss × any
/// f-divergence, with the gradient w.r.t. the policy's log-probabilities and the usual metrics.
#include <cmath>
#include <vector>

#include "rlhf/objective/concepts.hpp"
#include "rlhf/objective/reverse_kl.hpp"
#include "rlhf/objective/sigmoid_loss.hpp"

namespace rlhf {

/// Per-sequence log-probabilities of a batch of P preference pairs: log π(a|s) summed over
/// response tokens (prompt and padding excluded), for the trained policy and the frozen
/// reference, chosen (a_w) and rejected (a_l). Each span holds P entries.
struct dpo_inputs {
  real_span policy_chosen;
  real_span policy_rejected;
  real_span reference_chosen;
  real_span reference_rejected;
};

/// The value, gradients and metrics of one DPO batch.
struct dpo_result {
  double loss = 0.0;                  ///< mean_i L(h_i, β)
  std::vector<double> grad_chosen;    ///< (P) ∂ loss / ∂ log π(a_w,i) (includes the 1/P of the mean)
  std::vector<double> grad_rejected;  ///< (P) ∂ loss / ∂ log π(a_l,i)
  std::vector<double> margins;        ///< (P) h_i = β (f′(u_w) - f′(u_l))
  std::vector<double> chosen_rewards;    ///< (P) implicit rewards β (log π(a_w) - log π_ref(a_w))
  std::vector<double> rejected_rewards;  ///< (P) β (log π(a_l) - log π_ref(a_l))
  double reward_accuracy = 0.0;       ///< fraction of pairs with chosen reward > rejected reward
  double reward_margin = 0.0;         ///< mean (chosen reward - rejected reward)
  double mean_chosen_reward = 0.0;
  double mean_rejected_reward = 0.0;
};

/// One comparison of the DPO family: its loss, the derivatives w.r.t. the two sequence
/// log-probabilities of the policy, and its margin.
struct dpo_pair_term {
  double value = 0.0;   ///< p L(h) + (1 - p) L(-h)
  double d_better = 0.0;  ///< ∂ value / ∂ log π(a_w)
  double d_worse = 0.0;   ///< ∂ value / ∂ log π(a_l)
  double margin = 0.0;  ///< h = β (f′(u_w) - f′(u_l))
};

/// The loss of one comparison a_w ≻ a_l of the DPO family (see dpo_loss) from the log-ratios
/// Δ_w = log π(a_w) - log π_ref(a_w) and Δ_l, with h = β (f′(u_w) - f′(u_l)). `probability` p
/// is P(a_w ≻ a_l) for soft labels: the loss is the expectation p L(h) + (1 - p) L(-h) over the
/// label (p = 1: a hard label; p = σ(r_w - r_l): the exact Bradley–Terry preference of the
/// bandit oracle, whose minimiser is the closed form of ALGORITHMS.md §4).
/// Inputs are not validated here (dpo_loss and the DPO trainer do).
template <preference_loss Loss, divergence Div>
dpo_pair_term dpo_pair(double delta_w, double delta_l, double beta, const Loss& fn, const Div& div,
                       double probability = 1.0) {
  dpo_pair_term t;
  const double h = beta * (div.f_prime_log(delta_w) - div.f_prime_log(delta_l));
  double g = fn.grad(h, beta);
  t.value = fn.value(h, beta);
  if (probability != 1.0) {
    t.value = probability * t.value + (1.0 - probability) * fn.value(-h, beta);
    g = probability * g - (1.0 - probability) * fn.grad(-h, beta);
  }
  t.margin = h;
  t.d_better = g * beta * div.f_prime_log_grad(delta_w);
  t.d_worse = -g * beta * div.f_prime_log_grad(delta_l);
  return t;
}

/// DPO loss (Rafailov et al. 2023, eq. 7) generalised over the preference loss (SLiC, IPO,
/// conservative, robust) and the f-divergence (Wang et al. 2023, "Beyond Reverse KL", eq. 8);
/// ALGORITHMS.md §4.
///
/// With Δ = log π - log π_ref (= log u) per sequence, the margin is
/// `h = β (f′(u_w) - f′(u_l))`, the loss `mean_i L(h_i, β)`, and by the chain rule
/// `∂L/∂log π(a_w) = L′(h) β u_w f″(u_w)`, `∂L/∂log π(a_l) = -L′(h) β u_l f″(u_l)`, divided by P.
/// For reverse KL with the sigmoid loss this is exactly `∓ β σ(-h) / P`.
/// The reported implicit rewards are β Δ (TRL's convention, whatever the divergence).
///
/// @tparam Loss a rlhf::preference_loss (default loss::sigmoid: DPO).
/// @tparam Div  a rlhf::divergence (default divergences::reverse_kl: DPO).
/// @param in   the four (P) log-probability spans.
/// @param beta β > 0, the KL strength.
/// @throws rlhf::invalid_argument if β ≤ 0, P = 0 or the sizes differ;
///         rlhf::numerical_error if an input is not finite or the loss comes out NaN.
template <preference_loss Loss = loss::sigmoid, divergence Div = divergences::reverse_kl>
dpo_result dpo_loss(const dpo_inputs& in, double beta, const Loss& fn = Loss{}, const Div& div = Div{}) {
  detail::expect_positive(beta, "rlhf::dpo_loss: beta");
  const std::size_t n = in.policy_chosen.size();
  RLHF_EXPECTS(n > 0, "rlhf::dpo_loss: the batch has no pairs; pass at least one");
  detail::expect_size(in.policy_rejected, n, "policy_rejected", "policy_chosen");
  detail::expect_size(in.reference_chosen, n, "reference_chosen", "policy_chosen");
  detail::expect_size(in.reference_rejected, n, "reference_rejected", "policy_chosen");
  detail::expect_finite(in.policy_chosen, "policy_chosen log-probs");
  detail::expect_finite(in.policy_rejected, "policy_rejected log-probs");
  detail::expect_finite(in.reference_chosen, "reference_chosen log-probs");
  detail::expect_finite(in.reference_rejected, "reference_rejected log-probs");

  const double inv_n = 1.0 / static_cast<double>(n);
  dpo_result r;
  r.grad_chosen.resize(n);
  r.grad_rejected.resize(n);
  r.margins.resize(n);
  r.chosen_rewards.resize(n);
  r.rejected_rewards.resize(n);
  double loss = 0.0, correct = 0.0, sum_w = 0.0, sum_l = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double dw = in.policy_chosen[i] - in.reference_chosen[i];
    const double dl = in.policy_rejected[i] - in.reference_rejected[i];
    const dpo_pair_term t = dpo_pair(dw, dl, beta, fn, div);
    loss += t.value;
    r.margins[i] = t.margin;
    r.grad_chosen[i] = inv_n * t.d_better;
    r.grad_rejected[i] = inv_n * t.d_worse;
    r.chosen_rewards[i] = beta * dw;
    r.rejected_rewards[i] = beta * dl;
    correct += r.chosen_rewards[i] > r.rejected_rewards[i] ? 1.0 : 0.0;
    sum_w += r.chosen_rewards[i];
    sum_l += r.rejected_rewards[i];
  }
  r.loss = loss * inv_n;
  r.reward_accuracy = correct * inv_n;
  r.mean_chosen_reward = sum_w * inv_n;
  r.mean_rejected_reward = sum_l * inv_n;
  r.reward_margin = r.mean_chosen_reward - r.mean_rejected_reward;
  detail::expect_not_nan(r.loss, "rlhf::dpo_loss: the loss");
  return r;
}

}  // namespace rlhf
