// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Response views: the one place where per-position model outputs meet per-response numbers.
///
/// A model's output is aligned to the whole sequence: (B, T) over a right-padded token_batch,
/// prompt and padding included. The objectives (objective/) take numbers aligned to the
/// response: (B, R) with R the longest response and per-row lengths, response token j of row b
/// at column j. A response_view maps one onto the other for a given batch:
///  - gather:  (B, T) -> (B, R), reading the position of each response token;
///  - sums:    (B, T) -> (B), Σ (or mean) over each row's response (log π(a|s) of DPO);
///  - scatter: (B, R) -> (B, T), the adjoint of gather, giving the d_output a backward takes;
///  - scatter_sums: (B) -> (B, T), the adjoint of sums.
/// Which position a response token reads depends on what the output means (response_alignment):
/// a log-prob of token t sits at t; a value of the prefix before token t sits at t - 1.
///
/// scatter is the exact adjoint of gather (⟨gather(x), y⟩ = ⟨x, scatter(y)⟩), so the gradient
/// of any loss computed on gathered numbers is the scatter of its response-aligned gradient.
#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/core/view.hpp"
#include "rlhf/data/token_batch.hpp"

namespace rlhf::data {

/// Where a response token's number sits in a (B, T) model output.
enum class response_alignment {
  /// out(b, t) at the token's own position t: log π(a^t | s, a^{<t}) from an LM head, or a
  /// per-token reward read after the token.
  token,
  /// out(b, t - 1), the position before the token: a critic's V(s, a^{<t}) or a prefix
  /// scorer's value of the context the token is chosen from.
  before_token,
};

/// The response tokens of one token_batch, validated once: row b's response is the contiguous
/// run of positions [start(b), start(b) + length(b)) where response_mask is 1, after at least
/// one prompt token. Rows may have empty responses (length 0: they gather zeros and receive
/// no gradient). The view copies what it needs: the batch need not outlive it.
class response_view {
 public:
  /// @throws rlhf::invalid_argument naming the row when batch.lengths or batch.response_mask
  ///         do not match batch.tokens, a length is outside [0, T], or a row's response tokens
  ///         are not one contiguous run inside the row starting at t >= 1.
  explicit response_view(const token_batch& batch, response_alignment alignment = response_alignment::token)
      : alignment_(alignment), rows_(batch.rows()), cols_(batch.cols()) {
    RLHF_EXPECTS(static_cast<index_t>(batch.lengths.size()) == rows_, "response_view: batch.lengths has ",
                 batch.lengths.size(), " entries for ", rows_, " rows of batch.tokens; give one length per row");
    RLHF_EXPECTS(batch.response_mask.shape(0) == batch.tokens.shape(0) &&
                     batch.response_mask.shape(1) == batch.tokens.shape(1),
                 "response_view: batch.response_mask has shape (", batch.response_mask.shape(0), ", ",
                 batch.response_mask.shape(1), ") where (", rows_, ", ", cols_,
                 ") (the shape of batch.tokens) is required; build batches with rlhf::data::collate");
    starts_.resize(static_cast<std::size_t>(rows_));
    lengths_.resize(static_cast<std::size_t>(rows_));
    for (index_t b = 0; b < rows_; ++b) {
      const index_t len = batch.lengths(static_cast<std::size_t>(b));
      RLHF_EXPECTS(len >= 0 && len <= cols_, "response_view: batch.lengths(", b, ") = ", len, " is outside [0, ",
                   cols_, "]; lengths count the valid (non-padding) tokens of a row");
      const auto masked = [&](index_t t) {
        return batch.response_mask(static_cast<std::size_t>(b), static_cast<std::size_t>(t)) != 0;
      };
      index_t first = -1, count = 0;
      for (index_t t = 0; t < cols_; ++t) {
        if (!masked(t)) continue;
        RLHF_EXPECTS(t < len, "response_view: row ", b, " marks position ", t,
                     " as a response token, but the row has only ", len,
                     " tokens (batch.lengths); padding cannot be part of a response");
        RLHF_EXPECTS(t >= 1, "response_view: row ", b,
                     " starts with a response token (response_mask(", b, ", 0) = 1); a response token is "
                     "predicted from the tokens before it, so every row needs a prompt token first");
        if (first < 0) first = t;
        RLHF_EXPECTS(t == first + count, "response_view: row ", b, " has response tokens at positions ", first, "..",
                     first + count - 1, " and again at ", t,
                     "; a row holds one prompt followed by one contiguous response");
        ++count;
      }
      // An empty response "starts" where one would be appended: after the row's tokens.
      starts_[static_cast<std::size_t>(b)] = first < 0 ? len : first;
      lengths_[static_cast<std::size_t>(b)] = static_cast<std::int32_t>(count);
      max_length_ = std::max(max_length_, count);
      total_ += count;
    }
  }

  response_alignment alignment() const noexcept { return alignment_; }
  /// The same responses read at another alignment (no re-validation: both need the same batch
  /// properties), e.g. a PPO trainer's token-aligned log-probs and before-token values.
  response_view with_alignment(response_alignment alignment) const {
    response_view v = *this;
    v.alignment_ = alignment;
    return v;
  }

  /// B, the rows of the batch.
  index_t rows() const noexcept { return rows_; }
  /// T, the padded width of the batch: the per-token outputs are (B, T).
  index_t cols() const noexcept { return cols_; }
  /// R, the longest response: the response-aligned matrices are (B, R).
  index_t max_length() const noexcept { return max_length_; }
  /// Response tokens per row, usable as an objective's rlhf::length_span.
  std::span<const std::int32_t> lengths() const noexcept { return lengths_; }
  /// Response tokens of one row.
  index_t length(index_t row) const { return lengths_[checked(row)]; }
  /// Σ lengths: the N of a token-level mean.
  index_t total() const noexcept { return total_; }
  /// Sequence position of the row's first response token (for an empty response, the row's
  /// length: where a response would start).
  index_t start(index_t row) const { return starts_[checked(row)]; }
  /// Position of the (B, T) output that response token j of the row reads under this
  /// alignment: start + j, or start + j - 1 before the token.
  index_t position(index_t row, index_t j) const { return start(row) + j - shift(); }

  /// (B, T) -> (B, R): out(b, j) = per_token(b, position(b, j)) for j < length(b), 0 after.
  /// @throws rlhf::invalid_argument unless per_token is (B, T).
  template <std::floating_point Real>
  xt::xtensor<double, 2> gather(const xt::xtensor<Real, 2>& per_token) const {
    expect_per_token(per_token, "gather", "per_token");
    xt::xtensor<double, 2> out = xt::zeros<double>({extent(rows_), extent(max_length_)});
    for_each_token(
        [&](std::size_t b, std::size_t j, std::size_t p) { out(b, j) = static_cast<double>(per_token(b, p)); });
    return out;
  }

  /// (B, T) -> (B): Σ_j per_token(b, position(b, j)) over row b's response, accumulated in
  /// double; with length_normalised the mean (0 for an empty response).
  /// @throws rlhf::invalid_argument unless per_token is (B, T).
  template <std::floating_point Real>
  xt::xtensor<double, 1> sums(const xt::xtensor<Real, 2>& per_token, bool length_normalised = false) const {
    expect_per_token(per_token, "sums", "per_token");
    xt::xtensor<double, 1> out = xt::zeros<double>({extent(rows_)});
    for_each_token([&](std::size_t b, std::size_t, std::size_t p) { out(b) += static_cast<double>(per_token(b, p)); });
    if (length_normalised)
      for (std::size_t b = 0; b < extent(rows_); ++b)
        if (lengths_[b] > 0) out(b) /= static_cast<double>(lengths_[b]);
    return out;
  }

  /// (B, R) -> (B, T), the adjoint of gather: d_response(b, j) at position(b, j) for
  /// j < length(b), 0 everywhere else (prompt, padding, d_response past a row's length).
  /// @tparam Real the model's scalar type (the d_output of its backward).
  /// @throws rlhf::invalid_argument unless d_response is (B, R).
  template <std::floating_point Real = float, std::floating_point Grad>
  xt::xtensor<Real, 2> scatter(const xt::xtensor<Grad, 2>& d_response) const {
    xt::xtensor<Real, 2> out = xt::zeros<Real>({extent(rows_), extent(cols_)});
    scatter_add(out, d_response);
    return out;
  }
  /// d_per_token += scatter(d_response): combines several terms of one loss in one (B, T) buffer.
  /// @throws rlhf::invalid_argument unless d_per_token is (B, T) and d_response (B, R).
  template <std::floating_point Real, std::floating_point Grad>
  void scatter_add(xt::xtensor<Real, 2>& d_per_token, const xt::xtensor<Grad, 2>& d_response) const {
    expect_per_token(d_per_token, "scatter_add", "d_per_token");
    if (d_response.shape(0) != extent(rows_) || d_response.shape(1) != extent(max_length_)) [[unlikely]]
      RLHF_THROW(invalid_argument, "response_view::scatter: d_response has shape (", d_response.shape(0), ", ",
                 d_response.shape(1), ") where (", rows_, ", ", max_length_,
                 ") is required (rows x max_length(), the layout gather returns)");
    for_each_token([&](std::size_t b, std::size_t j, std::size_t p) {
      d_per_token(b, p) += static_cast<Real>(d_response(b, j));
    });
  }

  /// (B) -> (B, T), the adjoint of sums: d_rows[b] (divided by length(b) if length_normalised)
  /// at every position row b's response reads, 0 elsewhere.
  /// @throws rlhf::invalid_argument unless d_rows has B entries.
  template <std::floating_point Real = float>
  xt::xtensor<Real, 2> scatter_sums(std::span<const double> d_rows, bool length_normalised = false) const {
    xt::xtensor<Real, 2> out = xt::zeros<Real>({extent(rows_), extent(cols_)});
    scatter_sums_add(out, d_rows, length_normalised);
    return out;
  }
  /// d_per_token += scatter_sums(d_rows, length_normalised).
  /// @throws rlhf::invalid_argument unless d_per_token is (B, T) and d_rows has B entries.
  template <std::floating_point Real>
  void scatter_sums_add(xt::xtensor<Real, 2>& d_per_token, std::span<const double> d_rows,
                        bool length_normalised = false) const {
    expect_per_token(d_per_token, "scatter_sums_add", "d_per_token");
    if (d_rows.size() != extent(rows_)) [[unlikely]]
      RLHF_THROW(invalid_argument, "response_view::scatter_sums: d_rows has ", d_rows.size(), " entries for ", rows_,
                 " rows; pass one per row (the layout sums returns)");
    for_each_token([&](std::size_t b, std::size_t, std::size_t p) {
      const double d = length_normalised ? d_rows[b] / static_cast<double>(lengths_[b]) : d_rows[b];
      d_per_token(b, p) += static_cast<Real>(d);
    });
  }

 private:
  static std::size_t extent(index_t n) noexcept { return static_cast<std::size_t>(n); }
  index_t shift() const noexcept { return alignment_ == response_alignment::before_token ? 1 : 0; }
  std::size_t checked(index_t row) const {
    RLHF_EXPECTS(row >= 0 && row < rows_, "response_view: row ", row, " is outside [0, ", rows_, ")");
    return static_cast<std::size_t>(row);
  }
  template <class Tensor>
  void expect_per_token(const Tensor& x, const char* who, const char* what) const {
    if (x.shape(0) != extent(rows_) || x.shape(1) != extent(cols_)) [[unlikely]]
      RLHF_THROW(invalid_argument, "response_view::", who, ": ", what, " has shape (", x.shape(0), ", ", x.shape(1),
                 ") where (", rows_, ", ", cols_,
                 ") is required: one value per position of this batch's sequences (the model output for it)");
  }
  /// f(b, j, p) for every response token j of every row b, p its (B, T) position, in row-major
  /// order of both layouts (so gather and scatter sum in the same order and stay exact adjoints).
  template <class F>
  void for_each_token(F&& f) const {
    for (std::size_t b = 0; b < extent(rows_); ++b) {
      const auto first = static_cast<std::size_t>(starts_[b] - shift());
      for (std::size_t j = 0; j < static_cast<std::size_t>(lengths_[b]); ++j) f(b, j, first + j);
    }
  }

  response_alignment alignment_;
  index_t rows_ = 0, cols_ = 0, max_length_ = 0, total_ = 0;
  std::vector<index_t> starts_;
  std::vector<std::int32_t> lengths_;
};

}  // namespace rlhf::data
