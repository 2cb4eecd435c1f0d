// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Learning-rate schedules: constant, or linear warmup then cosine decay to a floor
/// (Loshchilov & Hutter 2017, "SGDR", eq. 5, one cycle without restarts), both with an optional
/// linear warmup. Steps count optimizer updates from 0.
///
///   warmup (s < W):   lr(s) = peak · (s + 1) / W    (the first update already moves; the
///                                                    W-th, s = W - 1, runs at the peak)
///   constant:          lr(s) = peak                  for s >= W
///   cosine:            lr(s) = floor + (peak - floor) · ½ (1 + cos(π · min(1, (s - W) / (S - W))))
///                      for s >= W, with S = total_steps; lr(s) = floor from s = S on.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string_view>

#include "rlhf/core/error.hpp"
#include "rlhf/core/view.hpp"

namespace rlhf::train {

enum class schedule_kind { constant, cosine };

/// A learning-rate schedule (see the file comment for the formulas).
struct lr_schedule {
  schedule_kind kind = schedule_kind::cosine;
  double peak_lr = 1e-4;       ///< the learning rate after warmup
  index_t warmup_steps = 0;    ///< W
  index_t total_steps = 1;     ///< S: the cosine reaches the floor here (ignored when constant)
  double min_lr = 0.0;         ///< the floor of the cosine decay

  /// @throws rlhf::invalid_argument naming the field outside its range
  void validate() const {
    RLHF_EXPECTS(peak_lr >= 0 && std::isfinite(peak_lr), "lr schedule: lr must be finite and >= 0 (got ",
                 peak_lr, ")");
    RLHF_EXPECTS(min_lr >= 0 && min_lr <= peak_lr, "lr schedule: min_lr must be in [0, lr = ", peak_lr,
                 "] (got ", min_lr, ")");
    RLHF_EXPECTS(warmup_steps >= 0, "lr schedule: warmup must be >= 0 (got ", warmup_steps, ")");
    RLHF_EXPECTS(kind == schedule_kind::constant || total_steps >= 1,
                 "lr schedule: total steps must be >= 1 (got ", total_steps, ")");
  }

  /// The learning rate of update `step` (0-based).
  double operator()(index_t step) const noexcept {
    if (step < 0) step = 0;
    if (step < warmup_steps)
      return peak_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
    if (kind == schedule_kind::constant) return peak_lr;
    const index_t span = total_steps - warmup_steps;
    if (span <= 0) return min_lr;
    const double progress = std::min(1.0, static_cast<double>(step - warmup_steps) / static_cast<double>(span));
    return min_lr + (peak_lr - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  }
};

inline std::string_view to_string(schedule_kind k) noexcept {
  return k == schedule_kind::constant ? "constant" : "cosine";
}

}  // namespace rlhf::train
