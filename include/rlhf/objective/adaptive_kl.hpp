// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// KL coefficient controllers: adaptive (Ziegler et al. 2019) and fixed.
#include <algorithm>
#include <cmath>

#include "rlhf/objective/real_span.hpp"

namespace rlhf {

/// Adaptive KL controller (Ziegler et al. 2019, "Fine-Tuning Language Models from Human
/// Preferences", §2.2; ALGORITHMS.md §3): after each batch with measured KL,
/// `e = clip(KL/target - 1, -0.2, 0.2)`, `β ← β (1 + e · n_steps / horizon)`.
/// A proportional controller in log β: KL above target raises the penalty, below lowers it,
/// by at most 20 % × n_steps/horizon per update so one noisy batch cannot swing β.
class adaptive_kl_controller {
 public:
  /// @param init_beta β₀ > 0; @param target KL target > 0 (nats per response);
  /// @param horizon  > 0, the number of steps over which a full proportional correction applies.
  /// @throws rlhf::invalid_argument unless all three are finite and > 0.
  adaptive_kl_controller(double init_beta, double target, double horizon)
      : beta_(init_beta), target_(target), horizon_(horizon) {
    detail::expect_positive(init_beta, "rlhf::adaptive_kl_controller: init_beta");
    detail::expect_positive(target, "rlhf::adaptive_kl_controller: target");
    detail::expect_positive(horizon, "rlhf::adaptive_kl_controller: horizon");
  }

  double beta() const noexcept { return beta_; }
  double target() const noexcept { return target_; }
  double horizon() const noexcept { return horizon_; }

  /// Updates β from the KL measured on the last batch of n_steps samples; returns the new β.
  /// @throws rlhf::numerical_error if the KL is not finite (a NaN upstream);
  ///         rlhf::invalid_argument if n_steps < 0.
  double update(double current_kl, index_t n_steps) {
    if (!std::isfinite(current_kl)) [[unlikely]]
      RLHF_THROW(numerical_error, "rlhf::adaptive_kl_controller::update: current_kl = ", current_kl,
                 " is not finite; check the KL estimate of the batch");
    RLHF_EXPECTS(n_steps >= 0, "rlhf::adaptive_kl_controller::update: n_steps = ", n_steps, " must be >= 0");
    const double e = std::clamp(current_kl / target_ - 1.0, -0.2, 0.2);
    beta_ *= 1.0 + e * static_cast<double>(n_steps) / horizon_;
    return beta_;
  }

 private:
  double beta_;
  double target_;
  double horizon_;
};

/// A constant KL coefficient with the adaptive controller's interface (no `--target-kl`).
class fixed_kl_controller {
 public:
  /// @throws rlhf::invalid_argument unless beta is finite and >= 0.
  explicit fixed_kl_controller(double beta) : beta_(beta) {
    RLHF_EXPECTS(std::isfinite(beta) && beta >= 0.0, "rlhf::fixed_kl_controller: beta = ", beta,
                 " must be a finite number >= 0");
  }
  double beta() const noexcept { return beta_; }
  double update(double /*current_kl*/, index_t /*n_steps*/) const noexcept { return beta_; }

 private:
  double beta_;
};

}  // namespace rlhf
