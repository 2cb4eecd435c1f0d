// SPDX-License-Identifier: MIT
#pragma once
// IWYU pragma: private
/// @file
/// The skeleton every per-token objective shares (PPO's clipped surrogate and value loss, the
/// in-loss KL, the KL-penalised rewards, whitening, GAE): K right-padded (B, T) matrices of one
/// shape plus the lengths of their rows, validated once, then read at the valid positions
/// t < lengths[b] only. Every read checks that the K numbers there are finite, so padding is
/// never read (it may hold NaN) and a NaN model output is reported where it is, with its name.
#include <array>
#include <cmath>
#include <cstddef>
#include <string>

#include <xtensor/xtensor.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/objective/real_span.hpp"

namespace rlhf::detail {

/// One (B, T) input of a per-token objective and the name its error messages use.
struct named_matrix {
  const char* name;
  real_matrix values;
};

/// K validated (B, T) inputs of one objective. Construct with a braced list, which fixes K:
/// `token_inputs in("rlhf::kl_loss", {{"policy_logps", p}, {"reference_logps", r}}, lengths);`
/// The viewed storage must outlive the object (it is a view, like real_matrix).
template <std::size_t K>
class token_inputs {
  static_assert(K >= 1, "a per-token objective reads at least one matrix");

 public:
  /// The first matrix fixes (B, T).
  /// @throws rlhf::invalid_argument if another matrix has a different shape or the lengths do
  ///         not give one entry in [0, T] per row.
  token_inputs(const char* who, const named_matrix (&inputs)[K], length_span lengths)
      : who_(who), lengths_(lengths), rows_(inputs[0].values.rows()), cols_(inputs[0].values.cols()) {
    for (std::size_t k = 0; k < K; ++k) inputs_[k] = inputs[k];
    for (std::size_t k = 1; k < K; ++k) expect_matrix(inputs_[k].values, rows_, cols_, inputs_[k].name);
    expect_lengths(lengths, rows_, cols_);
    for (index_t b = 0; b < rows_; ++b) tokens_ += length(b);
  }

  index_t rows() const noexcept { return rows_; }
  index_t cols() const noexcept { return cols_; }
  /// Valid positions of row b.
  index_t length(index_t b) const noexcept { return lengths_[static_cast<std::size_t>(b)]; }
  /// N, the valid positions of the whole batch.
  index_t tokens() const noexcept { return tokens_; }

  /// 1/N, the normaliser of a token-level mean.
  /// @throws rlhf::invalid_argument when N = 0: a mean over no token has no value or gradient.
  double inverse_tokens() const {
    RLHF_EXPECTS(tokens_ > 0, who_, ": no valid token (all lengths are 0); pass at least one response token");
    return 1.0 / static_cast<double>(tokens_);
  }
  /// @throws rlhf::invalid_argument naming the first empty row; `why` says what needs a token.
  void expect_nonempty_rows(const char* why) const {
    for (index_t b = 0; b < rows_; ++b)
      RLHF_EXPECTS(length(b) >= 1, who_, ": lengths[", b, "] = 0; ", why);
  }
  /// A (B, T) double matrix of zeros: the layout of every per-token output (0 at padding).
  xt::xtensor<double, 2> zeros() const {
    return xt::zeros<double>({static_cast<std::size_t>(rows_), static_cast<std::size_t>(cols_)});
  }

  /// The K inputs at valid position (b, t), in constructor order.
  /// @throws rlhf::numerical_error naming the position and each input when one is NaN or ±inf.
  std::array<double, K> at(index_t b, index_t t) const {
    RLHF_ASSERT(b >= 0 && b < rows_ && t >= 0 && t < length(b), "token_inputs::at outside the valid positions");
    std::array<double, K> x;
    bool finite = true;
    for (std::size_t k = 0; k < K; ++k) {
      x[k] = inputs_[k].values(b, t);
      finite = finite && std::isfinite(x[k]);
    }
    if (!finite) [[unlikely]]
      not_finite(b, t, x);
    return x;
  }

  /// Calls `f(b, t, x)` with x = at(b, t) for every valid position, row by row, t ascending.
  template <class F>
  void for_each(F&& f) const {
    for (index_t b = 0; b < rows_; ++b)
      for (index_t t = 0, len = length(b); t < len; ++t) f(b, t, at(b, t));
  }

 private:
  [[noreturn]] void not_finite(index_t b, index_t t, const std::array<double, K>& x) const {
    std::string values;
    for (std::size_t k = 0; k < K; ++k)
      values += concat(k ? ", " : "", inputs_[k].name, " = ", x[k]);
    RLHF_THROW(numerical_error, who_, ": input at (", b, ", ", t, ") is not finite (", values,
               "); every value at a valid position must be finite (check the model outputs that produced it)");
  }

  const char* who_;
  std::array<named_matrix, K> inputs_{};
  length_span lengths_;
  index_t rows_ = 0, cols_ = 0, tokens_ = 0;
};

}  // namespace rlhf::detail
