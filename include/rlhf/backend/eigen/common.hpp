// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Internals shared by the Eigen kernel families: view aliases, row-major Eigen maps, and the
/// two parallel loops every kernel uses. Both loops split the work into chunks whose boundaries
/// depend only on the problem size, never on the thread count, and every reduction combines its
/// per-chunk partial sums in chunk order: results are bitwise identical for any number of
/// threads. Exceptions never cross an OpenMP region: kernels validate before they parallelise.
// IWYU pragma: private
#include <algorithm>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include <Eigen/Core>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "rlhf/core/error.hpp"
#include "rlhf/core/view.hpp"

namespace rlhf::backend::eigen_detail {

/// A mutable host view (an output; its element type drives template deduction).
template <class T>
using out_view = view<T, host_space>;
/// A read-only host view of T; non-deduced so that a mutable view converts to it.
template <class T>
using in_view = std::type_identity_t<view<const T, host_space>>;
/// A read-only int32 view (token ids, positions, targets, cache rows and lengths).
using index_view = view<const std::int32_t, host_space>;
/// A scalar argument of type T that does not take part in deduction (lets 0.5 bind to float).
template <class T>
using scalar = std::type_identity_t<T>;

template <class T>
using row_major = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using matrix_map = Eigen::Map<row_major<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using const_matrix_map = Eigen::Map<const row_major<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using array_map = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using const_array_map = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

/// rows × cols row-major block starting at p whose rows are `stride` elements apart.
template <class T>
matrix_map<T> mat(T* p, index_t rows, index_t cols, index_t stride) {
  return matrix_map<T>(p, rows, cols, Eigen::OuterStride<>(stride));
}
template <class T>
const_matrix_map<T> mat(const T* p, index_t rows, index_t cols, index_t stride) {
  return const_matrix_map<T>(p, rows, cols, Eigen::OuterStride<>(stride));
}

/// Threads a parallel region started here may use: 1 inside somebody else's region (nested
/// regions would oversubscribe the 2 cores and change nothing in the results).
inline int thread_budget() noexcept {
#ifdef _OPENMP
  if (omp_in_parallel()) return 1;
#endif
  return std::max(1, Eigen::nbThreads());
}

/// f(begin, end) over [0, n) in chunks of `grain` (the last one shorter), in parallel when
/// there is more than one chunk. Chunks must write disjoint memory.
template <class F>
void parallel_chunks(index_t n, index_t grain, F&& f) {
  grain = std::max<index_t>(grain, 1);
  const index_t chunks = (n + grain - 1) / grain;
  const int threads = thread_budget();
  if (chunks <= 1 || threads <= 1) {
    for (index_t c = 0; c < chunks; ++c) f(c * grain, std::min(n, (c + 1) * grain));
    return;
  }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads)
#endif
  for (index_t c = 0; c < chunks; ++c) f(c * grain, std::min(n, (c + 1) * grain));
}

/// f(task) for task in [0, n) where each task runs Eigen products. Eigen parallelises a GEMM
/// itself unless it runs inside a team of more than one thread, and its blocking (hence the
/// order of the K summation) depends on its thread count; so a task always runs either in a
/// team of >1 threads or with Eigen single-threaded, and every GEMM is computed serially by
/// one thread on a tile fixed by the shape alone.
template <class F>
void parallel_tasks(index_t n, F&& f) {
  const int threads = thread_budget();
#ifdef _OPENMP
  if (threads > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (index_t i = 0; i < n; ++i) f(i);
    return;
  }
#endif
  for (index_t i = 0; i < n; ++i) f(i);
}

/// Rows per chunk so that one chunk handles about `target` elements.
inline index_t row_grain(index_t cols, index_t target = 16384) {
  return std::max<index_t>(1, target / std::max<index_t>(cols, 1));
}

/// Column sums Σ_r row_fn(r)[c] in double: fixed chunks of rows each fill a partial sum, the
/// partials are added in chunk order. row_fn(r, acc) adds row r's contribution into acc (cols).
template <class RowFn>
std::vector<double> column_sums(index_t rows, index_t cols, RowFn&& row_fn) {
  constexpr index_t chunk_rows = 64;
  const index_t chunks = (rows + chunk_rows - 1) / chunk_rows;
  std::vector<double> partial(static_cast<std::size_t>(std::max<index_t>(chunks, 1) * cols), 0.0);
  parallel_chunks(chunks, 1, [&](index_t c0, index_t c1) {
    for (index_t c = c0; c < c1; ++c) {
      double* acc = partial.data() + c * cols;
      for (index_t r = c * chunk_rows; r < std::min(rows, (c + 1) * chunk_rows); ++r) row_fn(r, acc);
    }
  });
  for (index_t c = 1; c < chunks; ++c)
    for (index_t j = 0; j < cols; ++j) partial[static_cast<std::size_t>(j)] += partial[static_cast<std::size_t>(c * cols + j)];
  partial.resize(static_cast<std::size_t>(cols));
  return partial;
}

/// Σ_{i<n} f(i) in double with eight independent partial sums in a fixed order: the compiler
/// vectorises the lanes (a single running sum is a serial chain of dependent adds, ~4x slower),
/// and the result depends only on n.
template <class F>
double dsum(index_t n, F&& f) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  index_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += static_cast<double>(f(i + j));
  double tail = 0;
  for (; i < n; ++i) tail += static_cast<double>(f(i));
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

/// "(2, 3, 4)" for messages.
inline std::string shape_string(const shape& s) {
  std::string r = "(";
  for (int i = 0; i < s.rank; ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + ")";
}

/// Throws unless `v` (an input named `what`) holds exactly `n` elements.
template <class V>
void expect_size(const V& v, index_t n, const char* what) {
  RLHF_EXPECTS(v.size() == n, what, ": ", v.size(), " elements with shape ", shape_string(v.extents()),
               " where ", n, " are required");
}

/// Throws unless a and b have the same shape (a named `what`).
template <class A, class B>
void expect_same(const A& a, const B& b, const char* what) {
  expect_shape(a.extents(), b.extents(), what);
}

}  // namespace rlhf::backend::eigen_detail
