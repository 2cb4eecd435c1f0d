// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Batch pairwise reward-model loss: mean preference loss over pairs, reward centring,
/// accuracy, and the gradient w.r.t. every reward.
#include <cmath>
#include <vector>

#include "rlhf/objective/concepts.hpp"
#include "rlhf/objective/sigmoid_loss.hpp"

namespace rlhf {

/// Options of pairwise reward modelling (ALGORITHMS.md §2).
struct pairwise_options {
  /// λ of the reward-centring term λ (r_+ + r_-)² (Eisenstein et al. 2023, "Helping or Herding?"),
  /// which pins the free additive constant of a Bradley–Terry reward near 0. 0 disables it.
  double center_coef = 0.0;

  /// @throws rlhf::invalid_argument if λ is negative or not finite.
  void validate() const {
    RLHF_EXPECTS(std::isfinite(center_coef) && center_coef >= 0.0, "rlhf::pairwise_options: center_coef = ",
                 center_coef, " must be a finite number >= 0 (0 disables reward centring)");
  }
};

/// The value, gradients and metrics of one batch of P preference pairs.
struct pairwise_result {
  double loss = 0.0;             ///< mean_i [L(h_i) + λ (r+_i + r-_i)²]
  double preference_loss = 0.0;  ///< mean_i L(h_i)
  double centering_loss = 0.0;   ///< mean_i λ (r+_i + r-_i)²
  std::vector<double> grad_chosen;    ///< (P) ∂ loss / ∂ r+_i (includes the 1/P of the mean)
  std::vector<double> grad_rejected;  ///< (P) ∂ loss / ∂ r-_i
  double accuracy = 0.0;         ///< fraction of pairs with r+ > r- (ties count as wrong)
  double mean_margin = 0.0;      ///< mean_i (r+_i - r-_i)
};

/// Pairwise Bradley–Terry reward-model loss over a batch (Stiennon et al. 2020; Ouyang et al.
/// 2022, eq. 1; ALGORITHMS.md §2): `loss = 1/P Σ_i [L(r+_i - r-_i) + λ (r+_i + r-_i)²]` with any
/// preference loss L at scale β = 1 (margin options live in the loss, e.g. loss::sigmoid{m}).
///
/// @tparam Loss a rlhf::preference_loss (default loss::sigmoid), evaluated at β = 1.
/// @param chosen   (P) rewards of the preferred responses r+.
/// @param rejected (P) rewards of the other responses r-.
/// @throws rlhf::invalid_argument on P = 0 or a size mismatch; rlhf::numerical_error for a
///         non-finite reward.
template <preference_loss Loss = loss::sigmoid>
pairwise_result pairwise_loss(real_span chosen, real_span rejected, const Loss& fn = Loss{},
                              const pairwise_options& options = {}) {
  options.validate();
  RLHF_EXPECTS(!chosen.empty(), "rlhf::pairwise_loss: the batch has no pairs; pass at least one");
  detail::expect_size(rejected, chosen.size(), "rejected rewards", "chosen rewards");
  detail::expect_finite(chosen, "chosen rewards");
  detail::expect_finite(rejected, "rejected rewards");

  const std::size_t n = chosen.size();
  const double inv_n = 1.0 / static_cast<double>(n);
  const double lambda = options.center_coef;
  pairwise_result r;
  r.grad_chosen.resize(n);
  r.grad_rejected.resize(n);
  double pref = 0.0, center = 0.0, margin = 0.0, correct = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double h = chosen[i] - rejected[i];
    const double sum = chosen[i] + rejected[i];
    const double dl = fn.grad(h, 1.0);
    pref += fn.value(h, 1.0);
    center += lambda * sum * sum;
    margin += h;
    correct += h > 0.0 ? 1.0 : 0.0;
    r.grad_chosen[i] = inv_n * (dl + 2.0 * lambda * sum);
    r.grad_rejected[i] = inv_n * (-dl + 2.0 * lambda * sum);
  }
  r.preference_loss = pref * inv_n;
  r.centering_loss = center * inv_n;
  r.loss = r.preference_loss + r.centering_loss;
  r.accuracy = correct * inv_n;
  r.mean_margin = margin * inv_n;
  detail::expect_not_nan(r.loss, "rlhf::pairwise_loss: the loss");
  return r;
}

}  // namespace rlhf
