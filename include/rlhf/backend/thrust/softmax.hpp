// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Row-wise softmax, log-softmax, logsumexp and the gathered cross-entropy log-probability of
/// the thrust backend, forward and backward. Each row is one task; the maximum is subtracted
/// before exponentiating and sums run in double, so rows of 50k logits keep float accuracy.
// IWYU pragma: private
#include <cmath>
#include <limits>

#include "rlhf/backend/thrust/launch.hpp"

namespace rlhf::backend::thrust_ops {

namespace softmax_detail {
/// A row's maximum m and Σ_j exp(x_j - m). The exponentials are taken in T (expf for float;
/// x - m is exact enough) and summed in double. Outputs are formed from x - m, never from
/// x - lse: at |x| ~ 1e4, lse rounded to float would cost four digits.
template <class T>
struct row_stats {
  T max;
  double sum;
};
template <class T>
RLHF_HOST_DEVICE inline row_stats<T> stats(const T* x, index_t v) noexcept {
  using std::exp;
  T m = x[0];
  for (index_t j = 1; j < v; ++j) m = x[j] > m ? x[j] : m;
  double s = 0.0;
  for (index_t j = 0; j < v; ++j) s += static_cast<double>(exp(x[j] - m));
  return {m, s};
}
/// log Σ_j exp(x_j) over one row of length v, in double.
template <class T>
RLHF_HOST_DEVICE inline double row_lse(const T* x, index_t v) noexcept {
  using std::log;
  const row_stats<T> st = stats(x, v);
  return static_cast<double>(st.max) + log(st.sum);
}
}  // namespace softmax_detail

template <class S, class T>
void softmax_forward(tview<T, S> out, tview<const T, S> x) {
  expect_shape(out.extents(), x.extents(), "softmax_forward: out");
  if (x.empty()) return;
  const index_t v = x.cols();
  T* o = out.data();
  const T* in = x.data();
  for_n<S>(x.rows(), [=] RLHF_HOST_DEVICE(index_t r) {
    using std::exp;
    const auto st = softmax_detail::stats(in + r * v, v);
    const double inv = 1.0 / st.sum;
    for (index_t j = 0; j < v; ++j)
      o[r * v + j] = static_cast<T>(static_cast<double>(exp(in[r * v + j] - st.max)) * inv);
  });
}

template <class S, class T>
void log_softmax_forward(tview<T, S> out, tview<const T, S> x) {
  expect_shape(out.extents(), x.extents(), "log_softmax_forward: out");
  if (x.empty()) return;
  const index_t v = x.cols();
  T* o = out.data();
  const T* in = x.data();
  for_n<S>(x.rows(), [=] RLHF_HOST_DEVICE(index_t r) {
    using std::log;
    const auto st = softmax_detail::stats(in + r * v, v);
    const double log_sum = log(st.sum);
    for (index_t j = 0; j < v; ++j)
      o[r * v + j] = static_cast<T>(static_cast<double>(in[r * v + j] - st.max) - log_sum);
  });
}

/// dx += p ⊙ (dout - ⟨dout, p⟩) per row, with p the saved softmax output.
template <class S, class T>
void softmax_backward(tview<T, S> dx, tview<const T, S> dout, tview<const T, S> probs) {
  expect_shape(dout.extents(), probs.extents(), "softmax_backward: dout");
  if (dx.empty()) return;
  expect_shape(dx.extents(), probs.extents(), "softmax_backward: dx");
  const index_t v = dx.cols();
  T* d = dx.data();
  const T* p = probs.data();
  const T* g = dout.data();
  for_n<S>(dx.rows(), [=] RLHF_HOST_DEVICE(index_t r) {
    double dot = 0.0;
    for (index_t j = 0; j < v; ++j) dot += static_cast<double>(g[r * v + j]) * p[r * v + j];
    for (index_t j = 0; j < v; ++j)
      d[r * v + j] += static_cast<T>(p[r * v + j] * (g[r * v + j] - dot));
  });
}

/// dx += dout - softmax(x)·Σ dout per row, with softmax(x) = exp(logp) from the saved output.
template <class S, class T>
void log_softmax_backward(tview<T, S> dx, tview<const T, S> dout, tview<const T, S> logp) {
  expect_shape(dout.extents(), logp.extents(), "log_softmax_backward: dout");
  if (dx.empty()) return;
  expect_shape(dx.extents(), logp.extents(), "log_softmax_backward: dx");
  const index_t v = dx.cols();
  T* d = dx.data();
  const T* lp = logp.data();
  const T* g = dout.data();
  for_n<S>(dx.rows(), [=] RLHF_HOST_DEVICE(index_t r) {
    using std::exp;
    double s = 0.0;
    for (index_t j = 0; j < v; ++j) s += g[r * v + j];
    for (index_t j = 0; j < v; ++j)
      d[r * v + j] += static_cast<T>(g[r * v + j] - exp(static_cast<double>(lp[r * v + j])) * s);
  });
}

template <class S, class T>
void logsumexp_forward(tview<T, S> out, tview<const T, S> x) {
  RLHF_EXPECTS(out.size() == x.rows(), "logsumexp_forward: out holds ", out.size(),
               " values; it needs one per row of x (", x.rows(), ")");
  if (x.empty()) return;
  const index_t v = x.cols();
  T* o = out.data();
  const T* in = x.data();
  for_n<S>(x.rows(), [=] RLHF_HOST_DEVICE(index_t r) {
    o[r] = static_cast<T>(softmax_detail::row_lse(in + r * v, v));
  });
}

/// dx += dout_n · softmax(x_n) = dout_n · exp(x - lse_n), with lse the saved output.
template <class S, class T>
void logsumexp_backward(tview<T, S> dx, tview<const T, S> dout, tview<const T, S> x,
                        tview<const T, S> lse) {
  RLHF_EXPECTS(lse.size() == x.rows() && dout.size() == x.rows(),
               "logsumexp_backward: lse and dout hold ", lse.size(), " and ", dout.size(),
               " values; they need one per row of x (", x.rows(), ")");
  if (dx.empty()) return;
  expect_shape(dx.extents(), x.extents(), "logsumexp_backward: dx");
  const index_t v = x.cols();
  T* d = dx.data();
  const T* in = x.data();
  const T* l = lse.data();
  const T* g = dout.data();
  for_n<S>(x.rows(), [=] RLHF_HOST_DEVICE(index_t r) {
    using std::exp;
    const double lr = l[r], gr = g[r];
    for (index_t j = 0; j < v; ++j) d[r * v + j] += static_cast<T>(gr * exp(in[r * v + j] - lr));
  });
}

namespace softmax_detail {
template <class S>
void check_targets(const tview<const std::int32_t, S>& targets, index_t n, index_t v,
                   const char* kernel) {
  RLHF_EXPECTS(targets.size() == n, kernel, ": ", targets.size(), " targets for ", n,
               " rows of logits; pass one target per row (-1 to ignore a row)");
  expect_ids_in_range<S>(targets.data(), n, std::numeric_limits<std::int32_t>::min(), v, kernel,
                         "targets must be in [0, V) or negative to ignore the row");
}
}  // namespace softmax_detail

/// logp_n = x[n, t_n] - lse_n and lse_n = log Σ_v exp x[n, v]; a negative target ignores row n
/// (logp_n = 0; lse_n is still written). lse may be empty (not saved).
template <class S, class T>
void cross_entropy_forward(tview<T, S> logp, tview<T, S> lse, tview<const T, S> x,
                           tview<const std::int32_t, S> targets) {
  const index_t n = x.rows(), v = x.cols();
  RLHF_EXPECTS(logp.size() == n, "cross_entropy_forward: logp holds ", logp.size(),
               " values; it needs one per row of the logits (", n, ")");
  if (!lse.empty())
    RLHF_EXPECTS(lse.size() == n, "cross_entropy_forward: lse holds ", lse.size(),
                 " values; it needs one per row of the logits (", n, ")");
  softmax_detail::check_targets<S>(targets, n, v, "cross_entropy_forward: targets");
  if (x.empty()) return;
  const std::int32_t* t = targets.data();
  T* lp = logp.data();
  T* ls = lse.empty() ? nullptr : lse.data();
  const T* in = x.data();
  for_n<S>(n, [=] RLHF_HOST_DEVICE(index_t r) {
    const double l = softmax_detail::row_lse(in + r * v, v);
    if (ls) ls[r] = static_cast<T>(l);
    lp[r] = t[r] < 0 ? T(0) : static_cast<T>(in[r * v + t[r]] - l);
  });
}

/// dx += dlogp_n · (onehot(t_n) - softmax(x_n)); ignored rows (t_n < 0) get nothing. lse is the
/// forward's, recomputed when empty.
template <class S, class T>
void cross_entropy_backward(tview<T, S> dx, tview<const T, S> dlogp, tview<const T, S> x,
                            tview<const T, S> lse, tview<const std::int32_t, S> targets) {
  const index_t n = x.rows(), v = x.cols();
  RLHF_EXPECTS(dlogp.size() == n, "cross_entropy_backward: dlogp holds ", dlogp.size(),
               " values; it needs one per row of the logits (", n, ")");
  if (!lse.empty())
    RLHF_EXPECTS(lse.size() == n, "cross_entropy_backward: lse holds ", lse.size(),
                 " values; it needs one per row of the logits (", n, ")");
  softmax_detail::check_targets<S>(targets, n, v, "cross_entropy_backward: targets");
  if (dx.empty()) return;
  expect_shape(dx.extents(), x.extents(), "cross_entropy_backward: dx");
  const std::int32_t* t = targets.data();
  T* d = dx.data();
  const T* g = dlogp.data();
  const T* in = x.data();
  const T* l = lse.empty() ? nullptr : lse.data();
  for_n<S>(n, [=] RLHF_HOST_DEVICE(index_t r) {
    using std::exp;
    if (t[r] < 0) return;
    const double gr = g[r];
    const double lr = l ? static_cast<double>(l[r]) : softmax_detail::row_lse(in + r * v, v);
    for (index_t j = 0; j < v; ++j)
      d[r * v + j] += static_cast<T>(gr * ((j == t[r] ? 1.0 : 0.0) - exp(in[r * v + j] - lr)));
  });
}

}  // namespace rlhf::backend::thrust_ops
