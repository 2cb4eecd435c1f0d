// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The logistic (Bradley–Terry / DPO) preference loss `-log σ(h - m)`.
#include <cmath>

#include "rlhf/core/math.hpp"
#include "rlhf/objective/concepts.hpp"

namespace rlhf::loss {

/// Bradley–Terry negative log-likelihood of a preference, `L(h) = -log σ(h - m)`
/// (Stiennon et al. 2020; DPO, Rafailov et al. 2023, eq. 7; the margin m is Llama 2's,
/// Touvron et al. 2023, eq. 2). ALGORITHMS.md §2 and §4.
///
/// Computed as softplus(m - h), so h = ±1e4 gives a finite value and gradient.
/// dL/dh = -σ(m - h).
class sigmoid {
 public:
  using rlhf_concept = preference_loss_tag;

  /// @param margin m, the margin the preferred response must win by (0: plain BT / DPO).
  /// @throws rlhf::invalid_argument if m is not finite.
  explicit sigmoid(double margin = 0.0) : margin_(margin) {
    RLHF_EXPECTS(std::isfinite(margin), "rlhf::loss::sigmoid: margin = ", margin, " must be finite");
  }

  double margin() const noexcept { return margin_; }

  /// `-log σ(h - m)`; beta is unused (the logistic loss is a function of h alone).
  double value(double h, double /*beta*/ = 1.0) const {
    detail::expect_not_nan(h, "rlhf::loss::sigmoid: the margin h");
    return math::softplus(margin_ - h);
  }
  /// `d/dh [-log σ(h - m)] = -σ(m - h)`.
  double grad(double h, double /*beta*/ = 1.0) const {
    detail::expect_not_nan(h, "rlhf::loss::sigmoid: the margin h");
    return -math::sigmoid(margin_ - h);
  }

 private:
  double margin_;
};
static_assert(preference_loss<sigmoid>);

}  // namespace rlhf::loss
