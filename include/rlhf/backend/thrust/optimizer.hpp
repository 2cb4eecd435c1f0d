// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Thrust backend, AdamW (Loshchilov & Hutter 2019, Algorithm 2; bias correction of Kingma &
/// Ba 2015, Algorithm 1): m = β1 m + (1-β1) g; v = β2 v + (1-β2) g²; m̂ = m/(1-β1^t);
/// v̂ = v/(1-β2^t); p -= lr (m̂/(√v̂ + ε) + wd·p). One fused task per element.
// IWYU pragma: private
#include <cmath>
#include <cstdint>

#include "rlhf/backend/thrust/common.hpp"

namespace rlhf::backend::thrust_detail {

template <class S>
struct optimizer_kernels {
  /// One AdamW step at step number `step` >= 1 (1-based, for the bias correction).
  template <class T>
  static void adamw_update(out_view<T, S> param, in_view<T, S> grad, out_view<T, S> m,
                           out_view<T, S> v, scalar<T> lr, scalar<T> beta1, scalar<T> beta2,
                           scalar<T> eps, scalar<T> weight_decay, std::int64_t step) {
    expect_shape(grad.extents(), param.extents(), "adamw_update: grad");
    expect_shape(m.extents(), param.extents(), "adamw_update: first moment m");
    expect_shape(v.extents(), param.extents(), "adamw_update: second moment v");
    RLHF_EXPECTS(step >= 1, "adamw_update: step is ", step, "; steps count from 1");
    RLHF_EXPECTS(beta1 >= T(0) && beta1 < T(1) && beta2 >= T(0) && beta2 < T(1),
                 "adamw_update: beta1 = ", beta1, ", beta2 = ", beta2, "; both must lie in [0, 1)");
    RLHF_EXPECTS(lr >= T(0) && eps > T(0) && weight_decay >= T(0), "adamw_update: lr = ", lr,
                 ", eps = ", eps, ", weight_decay = ", weight_decay,
                 "; lr and weight_decay must be >= 0 and eps > 0");
    if (param.empty()) return;
    // Bias corrections in double: 1 - β^t underflows to 0 in float for large t only after
    // β^t < 2^-24, but pow in double keeps early steps exact.
    const T c1 = static_cast<T>(1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step)));
    const T c2 = static_cast<T>(1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step)));
    T* p = param.data();
    const T* g = grad.data();
    T* pm = m.data();
    T* pv = v.data();
    for_n<S>(param.size(), [=] RLHF_HOST_DEVICE(index_t i) {
      using std::sqrt;
      const T gi = g[i];
      const T mi = beta1 * pm[i] + (T(1) - beta1) * gi;
      const T vi = beta2 * pv[i] + (T(1) - beta2) * gi * gi;
      pm[i] = mi;
      pv[i] = vi;
      const T mhat = mi / c1, vhat = vi / c2;
      p[i] -= lr * (mhat / (sqrt(vhat) + eps) + weight_decay * p[i]);
    });
  }
};

}  // namespace rlhf::backend::thrust_detail
