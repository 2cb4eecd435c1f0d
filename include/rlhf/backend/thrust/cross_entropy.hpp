// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Thrust backend, the gathered cross-entropy log-probability logp_n = x[n, t_n] - lse_n and its
/// backward, one task per row (the row's logsumexp as in softmax.hpp, in double).
// IWYU pragma: private
#include <cmath>
#include <cstdint>
#include <limits>

#include "rlhf/backend/thrust/softmax.hpp"

namespace rlhf::backend::thrust_detail {

template <class S>
struct cross_entropy_kernels {
  /// logp_n = x[n, t_n] - lse_n and lse_n = log Σ_v exp x[n, v]; a negative target ignores row n
  /// (logp_n = 0; lse_n is still written). lse may be empty (not saved).
  template <class T>
  static void cross_entropy_forward(out_view<T, S> logp, out_view<T, S> lse, in_view<T, S> x,
                                    index_view<S> targets) {
    const index_t n = x.rows(), v = x.cols();
    check(n, v, logp.size(), "logp", lse, targets, "cross_entropy_forward");
    if (x.empty()) return;
    const std::int32_t* t = targets.data();
    T* lp = logp.data();
    T* ls = data_or_null(lse);
    const T* in = x.data();
    for_n<S>(n, [=] RLHF_HOST_DEVICE(index_t r) {
      const double l = softmax_detail::row_lse(in + r * v, v);
      if (ls) ls[r] = static_cast<T>(l);
      lp[r] = t[r] < 0 ? T(0) : static_cast<T>(in[r * v + t[r]] - l);
    });
  }

  /// dx += dlogp_n · (onehot(t_n) - softmax(x_n)); ignored rows (t_n < 0) get nothing. lse is
  /// the forward's, recomputed when empty.
  template <class T>
  static void cross_entropy_backward(out_view<T, S> dx, in_view<T, S> dlogp, in_view<T, S> x,
                                     in_view<T, S> lse, index_view<S> targets) {
    const index_t n = x.rows(), v = x.cols();
    check(n, v, dlogp.size(), "dlogp", lse, targets, "cross_entropy_backward");
    if (dx.empty()) return;
    expect_shape(dx.extents(), x.extents(), "cross_entropy_backward: dx");
    const std::int32_t* t = targets.data();
    T* d = dx.data();
    const T* g = dlogp.data();
    const T* in = x.data();
    const T* l = data_or_null(lse);
    for_n<S>(n, [=] RLHF_HOST_DEVICE(index_t r) {
      using std::exp;
      if (t[r] < 0) return;
      const double gr = g[r];
      const double lr = l ? static_cast<double>(l[r]) : softmax_detail::row_lse(in + r * v, v);
      for (index_t j = 0; j < v; ++j)
        d[r * v + j] += static_cast<T>(gr * ((j == t[r] ? 1.0 : 0.0) - exp(in[r * v + j] - lr)));
    });
  }

 private:
  /// The checks both passes share for n rows of v logits: the per-row values (logp or dlogp,
  /// and lse when given) hold one value per row, targets one per row in [0, V) or negative.
  template <class L>
  static void check(index_t n, index_t v, index_t per_row_size, const char* per_row, const L& lse,
                    index_view<S> targets, const char* kernel) {
    expect_one_per(per_row_size, n, kernel, per_row, "row of the logits");
    if (!lse.empty()) expect_one_per(lse.size(), n, kernel, "lse", "row of the logits");
    RLHF_EXPECTS(targets.size() == n, kernel, ": targets: ", targets.size(), " targets for ", n,
                 " rows of logits; pass one target per row (-1 to ignore a row)");
    expect_ids_in_range<S>(targets.data(), n, std::numeric_limits<std::int32_t>::min(), v, kernel,
                           "targets", "targets must be in [0, V) or negative to ignore the row");
  }
};

}  // namespace rlhf::backend::thrust_detail
