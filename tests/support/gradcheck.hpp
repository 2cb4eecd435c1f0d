// SPDX-License-Identifier: MIT
#pragma once
/// Finite-difference gradient checking in double precision (mlpack CheckGradient style).
#include <cmath>
#include <cstddef>
#include <functional>
#include <span>
#include <vector>

#include "rlhf/core/rng.hpp"

namespace rlhf::test {

/// Central difference of a scalar function f at x along coordinate i:
/// (f(x + h e_i) - f(x - h e_i)) / 2h.
/// f reads x (it may be captured by reference); x is restored on return.
template <class F>
double numerical_partial(F&& f, std::span<double> x, std::size_t i, double h = 1e-6) {
  const double saved = x[i];
  x[i] = saved + h;
  const double fp = f();
  x[i] = saved - h;
  const double fm = f();
  x[i] = saved;
  return (fp - fm) / (2 * h);
}
/// All partials of f at x (numerical_partial for each coordinate).
template <class F>
std::vector<double> numerical_gradient(F&& f, std::span<double> x, double h = 1e-6) {
  std::vector<double> g(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) g[i] = numerical_partial(f, x, i, h);
  return g;
}

/// ||a - b|| / max(||a|| + ||b||, floor): the relative-norm criterion.
inline double relative_error(std::span<const double> a, std::span<const double> b,
                             double floor = 1e-12) {
  double d = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    d += (a[i] - b[i]) * (a[i] - b[i]);
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return std::sqrt(d) / std::max(std::sqrt(na) + std::sqrt(nb), floor);
}

/// n normal(0, scale) draws from a fixed counter-based stream.
inline std::vector<double> random_vector(std::size_t n, std::uint64_t seed, double scale = 1.0,
                                         std::uint64_t stream = 0) {
  rlhf::counter_rng rng(seed, stream);
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = scale * rng.normal(i);
  return v;
}

}  // namespace rlhf::test
