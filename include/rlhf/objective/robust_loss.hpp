// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The robust (unbiased under label noise) preference loss of rDPO.
#include <cmath>

#include "rlhf/core/math.hpp"
#include "rlhf/objective/concepts.hpp"

namespace rlhf::loss {

/// Robust DPO (Chowdhury et al. 2024, "Provably Robust DPO: Aligning Language Models with
/// Noisy Feedback", eq. 8): `L(h) = [-(1-ε) log σ(h) + ε log σ(-h)] / (1 - 2ε)`
/// (ALGORITHMS.md §4), an unbiased estimate of the clean-label loss when each label is
/// flipped with probability ε.
///
/// dL/dh = [-(1-ε) σ(-h) - ε σ(h)] / (1 - 2ε). The value is not bounded below for ε > 0
/// (it decreases linearly as h → +∞) by design; ε = 0 is exactly loss::sigmoid.
class robust {
 public:
  using rlhf_concept = preference_loss_tag;

  /// @param epsilon ε ∈ [0, 0.5), the label flip rate.
  /// @throws rlhf::invalid_argument if ε is outside [0, 0.5).
  explicit robust(double epsilon = 0.1) : epsilon_(epsilon) {
    RLHF_EXPECTS(epsilon >= 0.0 && epsilon < 0.5, "rlhf::loss::robust: label flip rate epsilon = ",
                 epsilon, " is outside [0, 0.5); use e.g. 0.1");
  }

  double epsilon() const noexcept { return epsilon_; }

  double value(double h, double /*beta*/ = 1.0) const {
    detail::expect_not_nan(h, "rlhf::loss::robust: the margin h");
    return ((1.0 - epsilon_) * math::softplus(-h) - epsilon_ * math::softplus(h)) / (1.0 - 2.0 * epsilon_);
  }
  double grad(double h, double /*beta*/ = 1.0) const {
    detail::expect_not_nan(h, "rlhf::loss::robust: the margin h");
    return (-(1.0 - epsilon_) * math::sigmoid(-h) - epsilon_ * math::sigmoid(h)) / (1.0 - 2.0 * epsilon_);
  }

 private:
  double epsilon_;
};
static_assert(preference_loss<robust>);

}  // namespace rlhf::loss
