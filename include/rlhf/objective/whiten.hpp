// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Batch whitening of per-token values (advantages) over the valid positions.
#include <cmath>

#include <xtensor/xtensor.hpp>

#include "rlhf/objective/detail/token_inputs.hpp"
#include "rlhf/objective/real_span.hpp"

namespace rlhf {

/// Options of rlhf::whiten.
struct whiten_options {
  /// Add the mean back after scaling (TRL's `shift_mean=False`): rescales without centring.
  bool keep_mean = false;
  /// ε > 0 added to the variance before the square root, so a constant batch maps to 0
  /// instead of 0/0 = NaN.
  double eps = 1e-8;

  /// @throws rlhf::invalid_argument unless ε is finite and > 0.
  void validate() const {
    RLHF_EXPECTS(std::isfinite(eps) && eps > 0.0, "rlhf::whiten: whiten_options.eps = ", eps,
                 " must be a finite number > 0 (it keeps a constant batch at 0 instead of 0/0 = NaN); "
                 "the default is 1e-8");
  }
};

/// Advantage whitening (PPO as used for RLHF: Ziegler et al. 2019, Ouyang et al. 2022;
/// ALGORITHMS.md §3): `(x - mean) / sqrt(var + ε)` with mean and the population variance
/// `Σ (x - mean)² / n` taken over the n valid positions of the whole batch, accumulated in double.
/// The result has mean 0 and population standard deviation 1 (up to ε) over those positions;
/// with keep_mean the mean is added back. Padding positions are 0 in the output; a batch of
/// equal values gives exactly 0.
/// @param x       (B, T) values, right-padded.
/// @param lengths (B) valid positions per row, in [0, T].
/// @throws rlhf::invalid_argument if no position is valid or ε is not a finite number > 0;
///         rlhf::numerical_error if a valid entry is not finite.
inline xt::xtensor<double, 2> whiten(real_matrix x, length_span lengths, const whiten_options& options = {}) {
  const detail::token_inputs in("rlhf::whiten", {{"x", x}}, lengths);
  options.validate();
  const double inv_n = in.inverse_tokens();
  // The mean as x_0 + mean(x - x_0), x_0 the first valid entry: exact for a constant batch (so it
  // whitens to exactly 0, not to rounding noise times 1/sqrt(ε)), and without the cancellation
  // of Σ x when |mean| is much larger than the spread.
  double first = 0.0;
  for (index_t b = 0; b < in.rows(); ++b)
    if (in.length(b) > 0) {
      first = in.at(b, 0)[0];
      break;
    }
  double shifted = 0.0;
  in.for_each([&](index_t, index_t, const auto& v) { shifted += v[0] - first; });
  const double mean = first + shifted * inv_n;
  // Two passes: Σ (x - mean)² does not cancel catastrophically the way Σ x² - n mean² can.
  double ss = 0.0;
  in.for_each([&](index_t, index_t, const auto& v) { ss += (v[0] - mean) * (v[0] - mean); });
  const double inv_std = 1.0 / std::sqrt(ss * inv_n + options.eps);
  const double shift = options.keep_mean ? mean : 0.0;
  xt::xtensor<double, 2> out = in.zeros();
  in.for_each([&](index_t b, index_t t, const auto& v) { out(b, t) = (v[0] - mean) * inv_std + shift; });
  return out;
}

}  // namespace rlhf
