// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Numerically stable scalar math (ALGORITHMS.md preamble): log σ(x) = -softplus(-x),
/// logsumexp with max subtraction, log(1 - exp(x)) (Mächler 2012). A margin of ±1e4 gives
/// finite values and derivatives everywhere.
#include <algorithm>
#include <cmath>
#include <limits>
#include <span>

#include "rlhf/config.hpp"

namespace rlhf::math {

/// softplus(x) = log(1 + exp(x)), exact for large |x|.
template <class T>
RLHF_HOST_DEVICE inline T softplus(T x) noexcept {
  using std::exp;
  using std::log1p;
  return x > T(0) ? x + log1p(exp(-x)) : log1p(exp(x));
}

/// σ(x) = 1 / (1 + exp(-x)) without overflow.
template <class T>
RLHF_HOST_DEVICE inline T sigmoid(T x) noexcept {
  using std::exp;
  if (x >= T(0)) return T(1) / (T(1) + exp(-x));
  const T e = exp(x);
  return e / (T(1) + e);
}

/// log σ(x) = -softplus(-x).
template <class T>
RLHF_HOST_DEVICE inline T log_sigmoid(T x) noexcept {
  return -softplus(-x);
}

/// log(1 - exp(x)) for x <= 0 (Mächler 2012, "Accurately computing log(1 - exp(-|a|))").
template <class T>
RLHF_HOST_DEVICE inline T log1mexp(T x) noexcept {
  using std::exp;
  using std::expm1;
  using std::log;
  using std::log1p;
  if (x > T(0)) return std::numeric_limits<T>::quiet_NaN();
  return x > T(-0.6931471805599453) ? log(-expm1(x)) : log1p(-exp(x));
}

/// log Σ exp(x_i), accumulated in double; -inf for an empty or all -inf input.
template <class T>
inline double logsumexp(std::span<const T> x) noexcept {
  double m = -std::numeric_limits<double>::infinity();
  for (T v : x) m = std::max(m, static_cast<double>(v));
  if (!std::isfinite(m)) return m;  // empty, all -inf, or contains +inf / NaN
  double s = 0.0;
  for (T v : x) s += std::exp(static_cast<double>(v) - m);
  return m + std::log(s);
}

/// log(exp(a) + exp(b)).
template <class T>
RLHF_HOST_DEVICE inline T logaddexp(T a, T b) noexcept {
  using std::exp;
  using std::log1p;
  if (a == -std::numeric_limits<T>::infinity()) return b;
  if (b == -std::numeric_limits<T>::infinity()) return a;
  const T m = a > b ? a : b;
  return m + log1p(exp(-(a > b ? a - b : b - a)));
}

}  // namespace rlhf::math
