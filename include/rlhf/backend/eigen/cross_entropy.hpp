// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Eigen backend, token log-likelihood: logp_n = x[n, t_n] - logsumexp(x[n, :]), the
/// per-token log-probability every objective (SFT, PPO, DPO) builds on; t_n < 0 ignores row n.
/// The softmax is never materialised: the backward recomputes exp(x - lse) from the saved lse.
// IWYU pragma: private
#include <limits>

#include "rlhf/backend/eigen/common.hpp"
#include "rlhf/backend/eigen/softmax.hpp"

namespace rlhf::backend::eigen_detail {

struct cross_entropy_kernels {
  /// logp (N), lse (N) from logits (N,V) and targets (N). Ignored rows (t_n < 0) get logp = 0
  /// (lse is still written). lse may be empty (not saved).
  template <class T>
  static void cross_entropy_forward(out_view<T> logp, out_view<T> lse, in_view<T> logits, index_view targets) {
    const index_t N = logits.rows(), V = logits.cols();
    expect_size(logp, N, "cross_entropy_forward: logp");
    if (!lse.empty()) expect_size(lse, N, "cross_entropy_forward: lse");
    check_targets(targets, N, V, "cross_entropy_forward");
    parallel_chunks(N, row_grain(V), [&](index_t r0, index_t r1) {
      Eigen::Array<T, Eigen::Dynamic, 1> scratch(V);
      for (index_t r = r0; r < r1; ++r) {
        const T l = softmax_kernels::row_lse(const_array_map<T>(logits.data() + r * V, V), scratch);
        if (!lse.empty()) lse.data()[r] = l;
        const std::int32_t t = targets.data()[r];
        logp.data()[r] = t < 0 ? T(0) : logits.data()[r * V + t] - l;
      }
    });
  }

  /// dlogits += dlogp_n · (onehot(t_n) - softmax(x_n)); ignored rows are skipped. lse is the
  /// forward's (recomputed when empty). Order: dlogits, dlogp, logits, lse, targets.
  template <class T>
  static void cross_entropy_backward(out_view<T> dlogits, in_view<T> dlogp, in_view<T> logits, in_view<T> lse,
                                     index_view targets) {
    const index_t N = logits.rows(), V = logits.cols();
    expect_size(dlogp, N, "cross_entropy_backward: dlogp");
    if (!lse.empty()) expect_size(lse, N, "cross_entropy_backward: lse");
    check_targets(targets, N, V, "cross_entropy_backward");
    if (dlogits.empty()) return;
    expect_same(dlogits, logits, "cross_entropy_backward: dlogits");
    parallel_chunks(N, row_grain(V), [&](index_t r0, index_t r1) {
      Eigen::Array<T, Eigen::Dynamic, 1> scratch(V);
      for (index_t r = r0; r < r1; ++r) {
        const std::int32_t t = targets.data()[r];
        if (t < 0) continue;
        const auto x = const_array_map<T>(logits.data() + r * V, V);
        const T l = lse.empty() ? softmax_kernels::row_lse(x, scratch) : lse.data()[r];
        const T g = dlogp.data()[r];
        auto d = array_map<T>(dlogits.data() + r * V, V);
        d -= g * (x - l).exp();
        d[t] += g;
      }
    });
  }

 private:
  static void check_targets(index_view targets, index_t N, index_t V, const char* kernel) {
    RLHF_EXPECTS(targets.size() == N, kernel, ": ", targets.size(), " targets for ", N,
                 " rows of logits; pass one target per row (-1 to ignore a row)");
    for (index_t i = 0; i < N; ++i)
      RLHF_EXPECTS(targets.data()[i] < V, kernel, ": target token id ", targets.data()[i], " at row ", i,
                   " is outside the vocabulary of size ", V,
                   "; targets must be in [0, V) or negative to ignore the row");
  }
};

}  // namespace rlhf::backend::eigen_detail
