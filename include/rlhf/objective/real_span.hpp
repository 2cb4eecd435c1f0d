// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Read-only views of the numbers the objectives consume: `real_span` (a float or double
/// sequence), `real_matrix` (a row-major (rows, cols) block of one) and `length_span`
/// (int32 or int64 row lengths).
///
/// Why a type-erased span: the objectives are host-side functions on per-sequence and
/// per-token numbers that arrive as float (model outputs, xtensor<float>) or double
/// (accumulated statistics, tests). One non-template signature taking `real_span` accepts
/// `std::vector<double>`, `std::vector<float>`, `std::span`, `std::array` and xtensor
/// containers alike, reads every element as double (the accumulation type), and keeps the
/// compile cost of a template per input type out of every caller. The per-element branch on
/// the element type is noise next to the exp/log the objectives evaluate.
///
/// All three are non-owning: the viewed storage must outlive the call they are passed to.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "rlhf/core/error.hpp"
#include "rlhf/core/view.hpp"

namespace rlhf {

namespace detail {
template <class C>
using data_element_t = std::remove_cv_t<std::remove_pointer_t<decltype(std::data(std::declval<const C&>()))>>;

template <class C, class... Ts>
concept contiguous_of = requires(const C& c) {
  std::data(c);
  std::size(c);
} && (std::is_same_v<data_element_t<C>, Ts> || ...);

/// std::data(c), made safe for strided containers (xtensor views and adaptors): the data offset
/// is applied, and anything but a dense row-major layout is rejected instead of misread.
template <class C>
auto dense_data(const C& c) {
  auto p = std::data(c);
  if constexpr (requires { c.data_offset(); }) p += c.data_offset();
  if constexpr (requires { c.strides()[0]; c.shape()[0]; c.dimension(); }) {
    long long expected = 1;
    for (std::size_t i = c.dimension(); i-- > 0;) {
      const auto extent = static_cast<long long>(c.shape()[i]);
      if (extent != 1 && static_cast<long long>(c.strides()[i]) != expected) [[unlikely]]
        RLHF_THROW(invalid_argument, "rlhf::real_span: the array is not dense and row-major (dimension ", i,
                   " has stride ", static_cast<long long>(c.strides()[i]), " where ", expected,
                   " is required); pass a contiguous copy, e.g. xt::xtensor<float, N>(expr)");
      expected *= extent;
    }
  }
  return p;
}
}  // namespace detail

/// A non-owning sequence of float or double, read element-wise as double.
class real_span {
 public:
  constexpr real_span() noexcept = default;
  constexpr real_span(const float* p, std::size_t n) noexcept : data_(p), size_(n), is_float_(true) {}
  constexpr real_span(const double* p, std::size_t n) noexcept : data_(p), size_(n), is_float_(false) {}
  /// Any contiguous container of float or double (std::vector, std::span, std::array, xtensor).
  /// @throws rlhf::invalid_argument for a strided (non-dense or column-major) xtensor expression.
  template <class C>
    requires(detail::contiguous_of<C, float, double> && !std::is_same_v<std::remove_cvref_t<C>, real_span>)
  constexpr real_span(const C& c)  // NOLINT(google-explicit-constructor): a view, like std::span
      : real_span(detail::dense_data(c), static_cast<std::size_t>(std::size(c))) {}
  /// A host view of float or double (any rank; read flat).
  template <class T>
    requires(std::is_same_v<std::remove_const_t<T>, float> || std::is_same_v<std::remove_const_t<T>, double>)
  constexpr real_span(const view<T, host_space>& v) noexcept  // NOLINT(google-explicit-constructor)
      : real_span(static_cast<const std::remove_const_t<T>*>(v.data()), static_cast<std::size_t>(v.size())) {}

  constexpr std::size_t size() const noexcept { return size_; }
  constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr double operator[](std::size_t i) const noexcept {
    return is_float_ ? static_cast<double>(static_cast<const float*>(data_)[i])
                     : static_cast<const double*>(data_)[i];
  }
  /// Elements [offset, offset + count).
  constexpr real_span subspan(std::size_t offset, std::size_t count) const noexcept {
    real_span s = *this;
    s.data_ = is_float_ ? static_cast<const void*>(static_cast<const float*>(data_) + offset)
                        : static_cast<const void*>(static_cast<const double*>(data_) + offset);
    s.size_ = count;
    return s;
  }

 private:
  const void* data_ = nullptr;
  std::size_t size_ = 0;
  bool is_float_ = false;
};

/// A non-owning row-major (rows, cols) matrix of float or double, read as double.
class real_matrix {
 public:
  constexpr real_matrix() noexcept = default;
  constexpr real_matrix(real_span data, index_t rows, index_t cols) : data_(data), rows_(rows), cols_(cols) {
    RLHF_EXPECTS(rows >= 0 && cols >= 0 && static_cast<std::size_t>(rows * cols) == data.size(),
                 "rlhf::real_matrix: ", data.size(), " elements cannot be viewed as (", rows, ", ", cols,
                 "); pass rows * cols elements");
  }
  /// A 2-D xtensor (or any container with data(), size() and a two-entry shape()).
  template <class C>
    requires(detail::contiguous_of<C, float, double> && requires(const C& c) {
      c.shape()[1];
      c.dimension();
    })
  real_matrix(const C& c)  // NOLINT(google-explicit-constructor)
      : data_(c) {
    RLHF_EXPECTS(c.dimension() == 2, "rlhf::real_matrix: a ", c.dimension(),
                 "-D array was given where a 2-D (rows, cols) one is required");
    rows_ = static_cast<index_t>(c.shape()[0]);
    cols_ = static_cast<index_t>(c.shape()[1]);
  }
  /// A rank-2 host view of float or double.
  template <class T>
    requires(std::is_same_v<std::remove_const_t<T>, float> || std::is_same_v<std::remove_const_t<T>, double>)
  real_matrix(const view<T, host_space>& v)  // NOLINT(google-explicit-constructor)
      : data_(v), rows_(v.rank() == 2 ? v.dim(0) : 0), cols_(v.rank() == 2 ? v.dim(1) : 0) {
    RLHF_EXPECTS(v.rank() == 2, "rlhf::real_matrix: a rank-", v.rank(),
                 " view was given where a rank-2 (rows, cols) one is required");
  }

  constexpr index_t rows() const noexcept { return rows_; }
  constexpr index_t cols() const noexcept { return cols_; }
  constexpr std::size_t size() const noexcept { return data_.size(); }
  constexpr double operator()(index_t r, index_t c) const noexcept {
    return data_[static_cast<std::size_t>(r * cols_ + c)];
  }
  constexpr real_span row(index_t r) const noexcept {
    return data_.subspan(static_cast<std::size_t>(r * cols_), static_cast<std::size_t>(cols_));
  }
  constexpr real_span flat() const noexcept { return data_; }

 private:
  real_span data_{};
  index_t rows_ = 0;
  index_t cols_ = 0;
};

/// A non-owning sequence of row lengths (int32 as in rlhf::token_batch, or int64).
class length_span {
 public:
  constexpr length_span() noexcept = default;
  constexpr length_span(const std::int32_t* p, std::size_t n) noexcept : data_(p), size_(n), is32_(true) {}
  constexpr length_span(const std::int64_t* p, std::size_t n) noexcept : data_(p), size_(n), is32_(false) {}
  template <class C>
    requires(detail::contiguous_of<C, std::int32_t, std::int64_t> &&
             !std::is_same_v<std::remove_cvref_t<C>, length_span>)
  constexpr length_span(const C& c)  // NOLINT(google-explicit-constructor)
      : length_span(detail::dense_data(c), static_cast<std::size_t>(std::size(c))) {}

  constexpr std::size_t size() const noexcept { return size_; }
  constexpr index_t operator[](std::size_t i) const noexcept {
    return is32_ ? static_cast<index_t>(static_cast<const std::int32_t*>(data_)[i])
                 : static_cast<index_t>(static_cast<const std::int64_t*>(data_)[i]);
  }

 private:
  const void* data_ = nullptr;
  std::size_t size_ = 0;
  bool is32_ = true;
};

namespace detail {

/// Throws rlhf::numerical_error naming `what[i]` when an input is NaN or infinite: the inputs
/// these checks guard are model outputs (log-probs, rewards), where a NaN is a numerical
/// failure upstream, not a malformed argument.
inline void expect_finite(real_span x, const char* what) {
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    if (!std::isfinite(v)) [[unlikely]]
      RLHF_THROW(numerical_error, what, "[", i, "] is ", v,
                 "; every entry must be finite (check the model outputs that produced it)");
  }
}

/// Throws rlhf::invalid_argument unless x has n elements.
inline void expect_size(real_span x, std::size_t n, const char* what, const char* like) {
  if (x.size() != n) [[unlikely]]
    RLHF_THROW(invalid_argument, what, " has ", x.size(), " elements but ", like, " has ", n,
               "; pass one entry per ", like, " entry");
}

/// Throws rlhf::invalid_argument unless m is (rows, cols).
inline void expect_matrix(const real_matrix& m, index_t rows, index_t cols, const char* what) {
  if (m.rows() != rows || m.cols() != cols) [[unlikely]]
    RLHF_THROW(invalid_argument, what, " has shape (", m.rows(), ", ", m.cols(), ") where (", rows, ", ",
               cols, ") is required");
}

/// Validates right-padding lengths against a (rows, cols) layout: 0 <= len[b] <= cols.
inline void expect_lengths(length_span lengths, index_t rows, index_t cols) {
  if (static_cast<index_t>(lengths.size()) != rows) [[unlikely]]
    RLHF_THROW(invalid_argument, "lengths has ", lengths.size(), " entries for ", rows,
               " rows; pass one length per row");
  for (std::size_t b = 0; b < lengths.size(); ++b)
    if (lengths[b] < 0 || lengths[b] > cols) [[unlikely]]
      RLHF_THROW(invalid_argument, "lengths[", b, "] = ", lengths[b], " is outside [0, ", cols,
                 "]; a row cannot be longer than the padded width T");
}

/// Throws rlhf::invalid_argument unless x is finite and > 0.
inline void expect_positive(double x, const char* what) {
  if (!(std::isfinite(x) && x > 0.0)) [[unlikely]]
    RLHF_THROW(invalid_argument, what, " = ", x, " must be a finite number > 0");
}

/// Throws rlhf::numerical_error when a scalar that must be a number is NaN.
inline void expect_not_nan(double x, const char* what) {
  if (std::isnan(x)) [[unlikely]]
    RLHF_THROW(numerical_error, what, " is NaN; the inputs that produced it were not finite");
}

}  // namespace detail
}  // namespace rlhf
