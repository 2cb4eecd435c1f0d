// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Thrust backend, GELU in GPT-2's tanh form (Hendrycks & Gimpel 2016, eq. for the tanh
/// approximation): gelu(x) = ½ x (1 + tanh(√(2/π) (x + 0.044715 x³))), one task per element.
// IWYU pragma: private
#include <cmath>

#include "rlhf/backend/thrust/common.hpp"

namespace rlhf::backend::thrust_detail {

namespace gelu_detail {
// sqrt(2 / pi) and the cubic coefficient of GPT-2's tanh approximation.
template <class T>
RLHF_HOST_DEVICE inline T gelu(T x) noexcept {
  using std::tanh;
  const T s = T(0.7978845608028654), c = T(0.044715);
  return T(0.5) * x * (T(1) + tanh(s * (x + c * x * x * x)));
}
template <class T>
RLHF_HOST_DEVICE inline T gelu_grad(T x) noexcept {
  using std::tanh;
  const T s = T(0.7978845608028654), c = T(0.044715);
  const T u = s * (x + c * x * x * x);
  const T th = tanh(u);
  const T sech2 = T(1) - th * th;  // 1 - tanh² avoids cosh overflow for large |u|
  return T(0.5) * (T(1) + th) + T(0.5) * x * sech2 * s * (T(1) + T(3) * c * x * x);
}
}  // namespace gelu_detail

template <class S>
struct gelu_kernels {
  /// out = gelu(inp), element-wise.
  template <class T>
  static void gelu_forward(out_view<T, S> out, in_view<T, S> inp) {
    expect_shape(inp.extents(), out.extents(), "gelu_forward: inp");
    T* o = out.data();
    const T* x = inp.data();
    if (!out.empty())
      for_n<S>(out.size(), [=] RLHF_HOST_DEVICE(index_t i) { o[i] = gelu_detail::gelu(x[i]); });
  }

  /// dinp += dout ⊙ gelu'(inp).
  template <class T>
  static void gelu_backward(out_view<T, S> dinp, in_view<T, S> dout, in_view<T, S> inp) {
    expect_shape(dout.extents(), inp.extents(), "gelu_backward: dout");
    if (dinp.empty()) return;
    expect_shape(dinp.extents(), inp.extents(), "gelu_backward: dinp");
    T* d = dinp.data();
    const T* x = inp.data();
    const T* g = dout.data();
    for_n<S>(dinp.size(),
             [=] RLHF_HOST_DEVICE(index_t i) { d[i] += gelu_detail::gelu_grad(x[i]) * g[i]; });
  }
};

}  // namespace rlhf::backend::thrust_detail
