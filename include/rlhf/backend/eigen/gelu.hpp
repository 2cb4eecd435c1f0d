// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Eigen backend, GELU in GPT-2's tanh form (Hendrycks & Gimpel 2016, eq. for the tanh
/// approximation): gelu(x) = ½ x (1 + tanh(√(2/π) (x + 0.044715 x³))). Vectorised Eigen arrays
/// (Eigen's tanh is SIMD for float).
// IWYU pragma: private
#include <cmath>

#include "rlhf/backend/eigen/common.hpp"

namespace rlhf::backend::eigen_detail {

struct gelu_kernels {
  static constexpr index_t chunk = 1 << 14;
  static constexpr double sqrt_2_over_pi = 0.7978845608028654;
  static constexpr double cubic = 0.044715;

  /// out = gelu(inp), element-wise.
  template <class T>
  static void gelu_forward(out_view<T> out, in_view<T> inp) {
    expect_same(out, inp, "gelu_forward: out");
    const T k = static_cast<T>(sqrt_2_over_pi), c = static_cast<T>(cubic);
    parallel_chunks(out.size(), chunk, [&](index_t b, index_t e) {
      const auto x = const_array_map<T>(inp.data() + b, e - b);
      array_map<T>(out.data() + b, e - b) = T(0.5) * x * (T(1) + (k * (x + c * x.cube())).tanh());
    });
  }

  /// dinp += dout ⊙ gelu'(inp). Argument order: gradient output, upstream gradient, saved input.
  template <class T>
  static void gelu_backward(out_view<T> dinp, in_view<T> dout, in_view<T> inp) {
    expect_same(dout, inp, "gelu_backward: dout");
    if (dinp.empty()) return;
    expect_same(dinp, inp, "gelu_backward: dinp");
    const T k = static_cast<T>(sqrt_2_over_pi), c = static_cast<T>(cubic);
    parallel_chunks(inp.size(), chunk, [&](index_t b, index_t e) {
      const auto x = const_array_map<T>(inp.data() + b, e - b);
      const auto g = const_array_map<T>(dout.data() + b, e - b);
      const Eigen::Array<T, Eigen::Dynamic, 1> th = (k * (x + c * x.cube())).tanh();
      array_map<T>(dinp.data() + b, e - b) +=
          g * (T(0.5) * (T(1) + th) + T(0.5) * x * (T(1) - th.square()) * k * (T(1) + T(3) * c * x.square()));
    });
  }
};

}  // namespace rlhf::backend::eigen_detail
