// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Internals shared by the thrust kernel families: the view aliases of the kernel signatures,
/// the launch loop, host transfers and the validation helpers.
///
/// Every kernel is a thrust algorithm over a counting iterator with an RLHF_HOST_DEVICE lambda
/// capturing raw pointers and sizes (never views: their member functions are host-only), run
/// with the system's explicit policy. Validation of device-resident ids is a find_if on the
/// system followed by a host-side throw, because device code cannot throw.
///
/// nvcc accepts an RLHF_HOST_DEVICE lambda only inside a function it can name from outside
/// (CUDA's extended-lambda rules): a free function, or a public static member of a family's
/// kernel struct, never a private one.
// IWYU pragma: private
#include <cstdint>
#include <string>
#include <type_traits>

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

namespace rlhf::backend::thrust_detail {

/// A mutable view in the memory of thrust system S (an output; its element type drives
/// template deduction).
template <class T, class S>
using out_view = view<T, thrust_space<S>>;
/// A read-only view in the memory of S; non-deduced so that a mutable view of the same space
/// converts to it.
template <class T, class S>
using in_view = std::type_identity_t<view<const T, thrust_space<S>>>;
/// A read-only int32 view in the memory of S (token ids, positions, targets, cache rows and
/// lengths, row indices).
template <class S>
using index_view = view<const std::int32_t, thrust_space<S>>;
/// A scalar argument of type T that does not take part in deduction (lets 0.5 bind to float).
template <class T>
using scalar = std::type_identity_t<T>;

/// The data of v, or null when v is empty (an optional input or an unwanted gradient).
template <class T, class Space>
T* data_or_null(const view<T, Space>& v) noexcept {
  return v.empty() ? nullptr : v.data();
}

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

/// The direction of a copy between the memory of a system and host memory.
enum class direction { to_host, from_host };

/// Copies n elements from src to dst: one side is memory of system S, the other host memory,
/// as `Dir` says. Synchronous.
template <direction Dir, class S, class T>
void transfer(T* dst, const T* src, index_t n) {
  if (n <= 0) return;
  if constexpr (system_traits<S>::host_accessible) {
    for (index_t i = 0; i < n; ++i) dst[i] = src[i];
  } else {
#if defined(__CUDACC__)
    detail::cuda_copy(dst, src, n,
                      Dir == direction::to_host ? cudaMemcpyDeviceToHost : cudaMemcpyHostToDevice);
#endif
  }
}
/// One element of system memory, read on the host (for error messages).
template <class S, class T>
T fetch(const T* p) {
  T v{};
  transfer<direction::to_host, S>(&v, p, 1);
  return v;
}

/// Throws rlhf::invalid_argument when some id of `ids` (n values, argument `name` of `kernel`)
/// lies outside [lo, hi); `fix` tells the caller what to pass instead.
template <class S>
void expect_ids_in_range(const std::int32_t* ids, index_t n, index_t lo, index_t hi,
                         const char* kernel, const char* name, const char* fix) {
  const index_t bad = find_first<S>(n, [=] RLHF_HOST_DEVICE(index_t i) {
    return ids[i] < lo || ids[i] >= hi;
  });
  if (bad >= 0)
    RLHF_THROW(invalid_argument, kernel, ": ", name, "[", bad, "] = ", fetch<S>(ids + bad),
               " is outside [", lo, ", ", hi, "); ", fix);
}

/// Throws rlhf::invalid_argument unless argument `name` of `kernel` (a per-row input or
/// output) holds `want` values, one per `per`.
inline void expect_one_per(index_t have, index_t want, const char* kernel, const char* name,
                           const char* per) {
  RLHF_EXPECTS(have == want, kernel, ": ", name, " holds ", have, " values; it needs one per ", per,
               " (", want, ")");
}

/// rlhf::expect_shape for argument `name` of `kernel`; the message is built only on failure.
inline void expect_extents(const shape& got, const shape& want, const char* kernel, const char* name) {
  if (!(got == want)) expect_shape(got, want, (std::string(kernel) + ": " + name).c_str());
}

}  // namespace rlhf::backend::thrust_detail
