// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Batch whitening of per-token values (advantages) over the valid positions.
#include <cmath>

#include <xtensor/xtensor.hpp>

#include "rlhf/objective/real_span.hpp"

namespace rlhf {

/// Options of rlhf::whiten.
struct whiten_options {
  /// Add the mean back after scaling (TRL's `shift_mean=False`): rescales without centring.
  bool keep_mean = false;
  /// ε added to the variance before the square root, so a constant batch maps to 0, not NaN.
  double eps = 1e-8;
};

/// Advantage whitening (PPO as used for RLHF: Ziegler et al. 2019, Ouyang et al. 2022;
/// ALGORITHMS.md §3): `(x - mean) / sqrt(var + ε)` with mean and the population variance
/// `Σ (x - mean)² / n` taken over the n valid positions of the whole batch, accumulated in double.
/// The result has mean 0 and population standard deviation 1 (up to ε) over those positions;
/// with keep_mean the mean is added back. Padding positions are 0 in the output.
/// @param x       (B, T) values, right-padded.
/// @param lengths (B) valid positions per row, in [0, T].
/// @throws rlhf::invalid_argument if no position is valid, ε < 0, or a valid entry is not finite.
inline xt::xtensor<double, 2> whiten(real_matrix x, length_span lengths, const whiten_options& options = {}) {
  const index_t rows = x.rows(), cols = x.cols();
  detail::expect_lengths(lengths, rows, cols);
  RLHF_EXPECTS(std::isfinite(options.eps) && options.eps >= 0.0, "rlhf::whiten: eps = ", options.eps,
               " must be a finite number >= 0");
  double n = 0.0, sum = 0.0;
  for (index_t b = 0; b < rows; ++b)
    for (index_t t = 0; t < lengths[static_cast<std::size_t>(b)]; ++t) {
      const double v = x(b, t);
      RLHF_EXPECTS(std::isfinite(v), "rlhf::whiten: entry (", b, ", ", t, ") = ", v, " is not finite");
      sum += v;
      n += 1.0;
    }
  RLHF_EXPECTS(n > 0.0, "rlhf::whiten: no valid position (all lengths are 0); nothing to whiten");
  const double mean = sum / n;
  // Two passes: Σ (x - mean)² does not cancel catastrophically the way Σ x² - n mean² can.
  double ss = 0.0;
  for (index_t b = 0; b < rows; ++b)
    for (index_t t = 0; t < lengths[static_cast<std::size_t>(b)]; ++t) ss += (x(b, t) - mean) * (x(b, t) - mean);
  const double inv_std = 1.0 / std::sqrt(ss / n + options.eps);
  const double shift = options.keep_mean ? mean : 0.0;
  xt::xtensor<double, 2> out = xt::zeros<double>({static_cast<std::size_t>(rows), static_cast<std::size_t>(cols)});
  for (index_t b = 0; b < rows; ++b)
    for (index_t t = 0; t < lengths[static_cast<std::size_t>(b)]; ++t) out(b, t) = (x(b, t) - mean) * inv_std + shift;
  return out;
}

}  // namespace rlhf
