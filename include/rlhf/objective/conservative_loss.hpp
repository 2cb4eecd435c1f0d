// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The conservative (label-smoothed) preference loss `-(1-ε) log σ(h) - ε log σ(-h)`.
#include <cmath>

#include "rlhf/core/math.hpp"
#include "rlhf/objective/concepts.hpp"

namespace rlhf::loss {

/// Conservative DPO / label smoothing (Mitchell 2023, "A note on DPO with noisy preferences"):
/// the cross-entropy against a label that is flipped with probability ε,
/// `L(h) = -(1-ε) log σ(h) - ε log σ(-h)` (ALGORITHMS.md §4).
///
/// dL/dh = -(1-ε) σ(-h) + ε σ(h). With ε > 0 the minimiser is the finite margin
/// h* = log((1-ε)/ε): noisy labels stop the margin from growing without bound.
class conservative {
 public:
  using rlhf_concept = preference_loss_tag;

  /// @param epsilon ε ∈ [0, 0.5), the assumed probability that a label is flipped.
  /// @throws rlhf::invalid_argument if ε is outside [0, 0.5).
  explicit conservative(double epsilon = 0.1) : epsilon_(epsilon) {
    RLHF_EXPECTS(epsilon >= 0.0 && epsilon < 0.5, "rlhf::loss::conservative: label smoothing epsilon = ",
                 epsilon, " is outside [0, 0.5); use e.g. 0.1");
  }

  double epsilon() const noexcept { return epsilon_; }

  double value(double h, double /*beta*/ = 1.0) const {
    detail::expect_not_nan(h, "rlhf::loss::conservative: the margin h");
    return (1.0 - epsilon_) * math::softplus(-h) + epsilon_ * math::softplus(h);
  }
  double grad(double h, double /*beta*/ = 1.0) const {
    detail::expect_not_nan(h, "rlhf::loss::conservative: the margin h");
    return -(1.0 - epsilon_) * math::sigmoid(-h) + epsilon_ * math::sigmoid(h);
  }

 private:
  double epsilon_;
};
static_assert(preference_loss<conservative>);

}  // namespace rlhf::loss
