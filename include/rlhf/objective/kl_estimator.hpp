// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Schulman's per-sample KL estimators k1, k2, k3 and their derivatives.
#include <cmath>
#include <string>
#include <string_view>

#include "rlhf/core/error.hpp"
#include "rlhf/objective/real_span.hpp"

namespace rlhf {

/// Per-sample estimators of KL(π ‖ π_ref) from samples a ~ π, as functions of the log-ratio
/// ℓ = log π(a) - log π_ref(a) (Schulman 2020, "Approximating KL Divergence";
/// ALGORITHMS.md §3):
///   - k1 = ℓ: unbiased, high variance, can be negative;
///   - k2 = ℓ²/2: biased (low bias near π = π_ref), non-negative, low variance;
///   - k3 = exp(-ℓ) - 1 + ℓ: unbiased (E_π exp(-ℓ) = 1) and non-negative (e^x ≥ 1 + x).
/// k3 is exact but grows like exp(-ℓ): it is +inf for ℓ < -709, where π_ref/π itself overflows.
enum class kl_estimator { k1, k2, k3 };

/// The estimate k(ℓ).
/// @throws rlhf::numerical_error if ℓ is NaN (a NaN log-probability upstream).
inline double kl_estimate(kl_estimator k, double log_ratio) {
  detail::expect_not_nan(log_ratio, "rlhf::kl_estimate: the log-ratio");
  switch (k) {
    case kl_estimator::k1: return log_ratio;
    case kl_estimator::k2: return 0.5 * log_ratio * log_ratio;
    case kl_estimator::k3: return std::expm1(-log_ratio) + log_ratio;  // expm1: exact near ℓ = 0
  }
  RLHF_THROW(invalid_argument, "rlhf::kl_estimate: unknown estimator ", static_cast<int>(k));
}

/// dk/dℓ: 1 (k1), ℓ (k2), 1 - exp(-ℓ) (k3).
/// @throws rlhf::numerical_error if ℓ is NaN.
inline double kl_estimate_grad(kl_estimator k, double log_ratio) {
  detail::expect_not_nan(log_ratio, "rlhf::kl_estimate_grad: the log-ratio");
  switch (k) {
    case kl_estimator::k1: return 1.0;
    case kl_estimator::k2: return log_ratio;
    case kl_estimator::k3: return -std::expm1(-log_ratio);
  }
  RLHF_THROW(invalid_argument, "rlhf::kl_estimate_grad: unknown estimator ", static_cast<int>(k));
}

/// "k1", "k2" or "k3" (the spelling of `--kl-estimator`).
inline std::string_view to_string(kl_estimator k) noexcept {
  switch (k) {
    case kl_estimator::k1: return "k1";
    case kl_estimator::k2: return "k2";
    case kl_estimator::k3: return "k3";
  }
  return "?";
}

/// Parses "k1", "k2" or "k3".
/// @throws rlhf::invalid_argument naming the allowed values otherwise.
inline kl_estimator parse_kl_estimator(std::string_view s) {
  if (s == "k1") return kl_estimator::k1;
  if (s == "k2") return kl_estimator::k2;
  if (s == "k3") return kl_estimator::k3;
  RLHF_THROW(invalid_argument, "unknown KL estimator '", std::string(s), "'; use k1, k2 or k3");
}

}  // namespace rlhf
