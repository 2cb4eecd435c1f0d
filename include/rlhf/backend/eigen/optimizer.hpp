// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Eigen backend, AdamW (Loshchilov & Hutter 2019, Algorithm 2; bias correction of Kingma &
/// Ba 2015, Algorithm 1): m = β1 m + (1-β1) g; v = β2 v + (1-β2) g²; m̂ = m/(1-β1^t);
/// v̂ = v/(1-β2^t); p -= lr (m̂/(√v̂ + ε) + wd·p). The decay is decoupled from the gradient and
/// scaled by lr, as in PyTorch's AdamW and llm.c. One fused vectorised pass.
// IWYU pragma: private
#include <cmath>
#include <cstdint>

#include "rlhf/backend/eigen/common.hpp"

namespace rlhf::backend::eigen_detail {

struct optimizer_kernels {
  static constexpr index_t chunk = 1 << 14;

  /// One AdamW step at step number t >= 1 (1-based, for the bias correction).
  template <class T>
  static void adamw_update(out_view<T> params, in_view<T> grads, out_view<T> m, out_view<T> v, scalar<T> lr,
                           scalar<T> beta1, scalar<T> beta2, scalar<T> eps, scalar<T> weight_decay, std::int64_t t) {
    expect_same(grads, params, "adamw_update: grads");
    expect_same(m, params, "adamw_update: m");
    expect_same(v, params, "adamw_update: v");
    RLHF_EXPECTS(t >= 1, "adamw_update: step t = ", t, "; steps count from 1");
    RLHF_EXPECTS(beta1 >= T(0) && beta1 < T(1) && beta2 >= T(0) && beta2 < T(1), "adamw_update: beta1 = ", beta1,
                 ", beta2 = ", beta2, "; both must be in [0, 1)");
    RLHF_EXPECTS(lr >= T(0) && eps > T(0) && weight_decay >= T(0), "adamw_update: lr = ", lr, ", eps = ", eps,
                 ", weight_decay = ", weight_decay, "; lr and weight_decay must be >= 0 and eps > 0");
    const T c1 = static_cast<T>(1.0 / (1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(t))));
    const T c2 = static_cast<T>(1.0 / (1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(t))));
    parallel_chunks(params.size(), chunk, [&](index_t b, index_t e) {
      const index_t n = e - b;
      const auto g = const_array_map<T>(grads.data() + b, n);
      auto mm = array_map<T>(m.data() + b, n);
      auto vv = array_map<T>(v.data() + b, n);
      auto p = array_map<T>(params.data() + b, n);
      mm = beta1 * mm + (T(1) - beta1) * g;
      vv = beta2 * vv + (T(1) - beta2) * g.square();
      p -= lr * ((mm * c1) / ((vv * c2).sqrt() + eps) + weight_decay * p);
    });
  }
};

}  // namespace rlhf::backend::eigen_detail
