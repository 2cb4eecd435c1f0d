// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The IPO preference loss `(h/β - 1/(2β))²`.
#include "rlhf/objective/concepts.hpp"

namespace rlhf::loss {

/// Identity preference optimisation (Azar et al. 2023, "A General Theoretical Paradigm to
/// Understand Learning from Human Preferences", eq. 17): `(Δ(a_w) - Δ(a_l) - 1/(2β))²`,
/// ALGORITHMS.md §4.
///
/// IPO regresses the *unscaled* log-ratio difference x = Δ_w - Δ_l to the target 1/(2β), so
/// unlike the other losses it is not a function of h = β x alone. Interface: it receives the
/// scaled margin h and the scale β of the concept (`value(h, beta)`), and evaluates
/// `L = (h/β - 1/(2β))² = ((h - 1/2) / β)²`, `dL/dh = 2 (h - 1/2) / β²`.
/// DPO passes its β; reward modelling passes β = 1 (the default), where h = r_w - r_l and the
/// loss is `(h - 1/2)²`: the reward gap is regressed to 1/2 instead of pushed to infinity.
class ipo {
 public:
  using rlhf_concept = preference_loss_tag;

  /// @throws rlhf::invalid_argument if beta is not finite and > 0.
  double value(double h, double beta = 1.0) const {
    check(h, beta);
    const double d = (h - 0.5) / beta;
    return d * d;
  }
  double grad(double h, double beta = 1.0) const {
    check(h, beta);
    return 2.0 * (h - 0.5) / (beta * beta);
  }

 private:
  static void check(double h, double beta) {
    detail::expect_positive(beta, "rlhf::loss::ipo: beta");
    detail::expect_not_nan(h, "rlhf::loss::ipo: the margin h");
  }
};
static_assert(preference_loss<ipo>);

}  // namespace rlhf::loss
