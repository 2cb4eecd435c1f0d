// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Launch and validation helpers shared by the thrust kernels (internal).
///
/// Every kernel is a thrust algorithm over a counting iterator with an RLHF_HOST_DEVICE lambda
/// capturing raw pointers and sizes (never views: their member functions are host-only), run
/// with the system's explicit policy. Validation of device-resident ids is a find_if on the
/// system followed by a host-side throw, because device code cannot throw.
// IWYU pragma: private
#include <cstdint>
#include <span>

// First: it makes thrust's default device system host-compilable before any thrust header.
#include "rlhf/backend/thrust/system.hpp"

#include <thrust/find.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include "rlhf/core/error.hpp"
#include "rlhf/core/view.hpp"
#if defined(__CUDACC__)
#include "rlhf/backend/thrust/cuda/cublas_gemm.cuh"
#endif

namespace rlhf::backend::thrust_ops {

/// Views in the memory of thrust system S.
template <class T, class S>
using tview = view<T, thrust_space<S>>;

/// Runs f(i) for i in [0, n) on system S (in parallel where the system is parallel).
template <class S, class F>
void for_n(index_t n, F f) {
  if (n <= 0) return;
  ::thrust::for_each_n(system_traits<S>::policy(), ::thrust::counting_iterator<index_t>(0), n, f);
}

/// The first i in [0, n) with bad(i), or -1.
template <class S, class Pred>
index_t find_first(index_t n, Pred bad) {
  if (n <= 0) return -1;
  const ::thrust::counting_iterator<index_t> first(0);
  const auto it = ::thrust::find_if(system_traits<S>::policy(), first, first + n, bad);
  return it == first + n ? -1 : *it;
}

/// Copies n elements of system memory to host memory.
template <class S, class T>
void copy_to_host(T* dst, const T* src, index_t n) {
  if (n <= 0) return;
  if constexpr (system_traits<S>::host_accessible) {
    for (index_t i = 0; i < n; ++i) dst[i] = src[i];
  } else {
#if defined(__CUDACC__)
    detail::cuda_copy_to_host(dst, src, n);
#endif
  }
}
/// Copies n elements of host memory to system memory.
template <class S, class T>
void copy_from_host(T* dst, const T* src, index_t n) {
  if (n <= 0) return;
  if constexpr (system_traits<S>::host_accessible) {
    for (index_t i = 0; i < n; ++i) dst[i] = src[i];
  } else {
#if defined(__CUDACC__)
    detail::cuda_copy_from_host(dst, src, n);
#endif
  }
}
/// One element of system memory, read on the host (for error messages).
template <class S, class T>
T fetch(const T* p) {
  T v{};
  copy_to_host<S>(&v, p, 1);
  return v;
}

/// Throws rlhf::invalid_argument when some id of `ids` (n values) lies outside [lo, hi).
template <class S>
void expect_ids_in_range(const std::int32_t* ids, index_t n, index_t lo, index_t hi,
                         const char* what, const char* fix) {
  const index_t bad = find_first<S>(n, [=] RLHF_HOST_DEVICE(index_t i) {
    return ids[i] < lo || ids[i] >= hi;
  });
  if (bad >= 0)
    RLHF_THROW(invalid_argument, what, "[", bad, "] = ", fetch<S>(ids + bad), " is outside [", lo,
               ", ", hi, "); ", fix);
}

}  // namespace rlhf::backend::thrust_ops
