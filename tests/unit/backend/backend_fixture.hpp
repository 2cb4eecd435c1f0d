// SPDX-License-Identifier: MIT
#pragma once
/// Helpers shared by the backend kernel tests. Data moves in and out of a backend only through
/// B::from_host / B::to_host, so the same tests run on every backend of rlhf::test::backends.
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include <catch2/catch.hpp>

#include "rlhf/backend.hpp"
#include "support/backends.hpp"
#include "support/gradcheck.hpp"

namespace rlhf::test {

/// A backend buffer of shape s filled from host values (converted to T).
template <class B, class T, class U>
typename B::template buffer<T> upload(const std::vector<U>& host, shape s) {
  typename B::template buffer<T> buf(s);
  std::vector<T> tmp(host.begin(), host.end());
  REQUIRE(static_cast<index_t>(tmp.size()) == s.size());
  B::from_host(buf.view(), std::span<const T>(tmp));
  return buf;
}

/// The contents of a backend buffer (or view) as a host vector.
template <class B, class Buf>
auto download(const Buf& buf) {
  using T = std::remove_const_t<typename decltype(buf.view())::value_type>;
  std::vector<T> out(static_cast<std::size_t>(buf.size()));
  B::to_host(std::span<T>(out), buf.view());
  return out;
}

/// Converts a vector to double.
template <class T>
std::vector<double> as_double(const std::vector<T>& v) {
  return {v.begin(), v.end()};
}

/// An empty (default) view: "gradient not wanted" / "no cache".
template <class B, class T>
view<T, typename B::space> none() {
  return {};
}

/// Σ w ⊙ out: the scalar loss whose gradient the finite-difference checks compare.
inline double weighted_sum(const std::vector<double>& w, const std::vector<double>& out) {
  REQUIRE(w.size() == out.size());
  double s = 0;
  for (std::size_t i = 0; i < w.size(); ++i) s += w[i] * out[i];
  return s;
}

/// analytic - initial, element-wise (backward kernels accumulate onto `initial`).
inline std::vector<double> minus(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> r(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) r[i] = a[i] - b[i];
  return r;
}

/// Max |a - b| / (|b| + floor): float-vs-double comparisons.
inline double max_rel_diff(const std::vector<double>& a, const std::vector<double>& b, double floor = 1e-2) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]) / (std::abs(b[i]) + floor));
  return m;
}

inline bool all_finite(const std::vector<double>& v) {
  for (double x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

}  // namespace rlhf::test
