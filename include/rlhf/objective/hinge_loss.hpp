// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The hinge (SLiC) preference loss `max(0, δ - h)`.
#include <cmath>

#include "rlhf/objective/concepts.hpp"

namespace rlhf::loss {

/// Calibration hinge loss of SLiC (Zhao et al. 2023, "SLiC-HF", eq. 2), `L(h) = max(0, δ - h)`
/// with δ = 1 by default, as in ALGORITHMS.md §4 (`max(0, 1 - h)`, h = β(Δ_w - Δ_l)).
///
/// dL/dh = -1 for h < δ and 0 for h ≥ δ: at the kink the subgradient 0 is taken, so a pair
/// that exactly meets the margin contributes nothing (as torch.relu's gradient does at 0).
class hinge {
 public:
  using rlhf_concept = preference_loss_tag;

  /// @param margin δ, the margin below which a pair is penalised.
  /// @throws rlhf::invalid_argument if δ is not finite.
  explicit hinge(double margin = 1.0) : margin_(margin) {
    RLHF_EXPECTS(std::isfinite(margin), "rlhf::loss::hinge: margin = ", margin, " must be finite");
  }

  double margin() const noexcept { return margin_; }

  double value(double h, double /*beta*/ = 1.0) const {
    detail::expect_not_nan(h, "rlhf::loss::hinge: the margin h");
    return h < margin_ ? margin_ - h : 0.0;
  }
  double grad(double h, double /*beta*/ = 1.0) const {
    detail::expect_not_nan(h, "rlhf::loss::hinge: the margin h");
    return h < margin_ ? -1.0 : 0.0;
  }

 private:
  double margin_;
};
static_assert(preference_loss<hinge>);

}  // namespace rlhf::loss
