// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Thrust systems the backend runs on, and the memory-space tag of each.
///
/// A system is one of thrust's tag types: `thrust::system::omp::tag` (OpenMP threads on the
/// host), `thrust::system::cpp::tag` (sequential host) and, under nvcc, `thrust::system::cuda::tag`.
/// `system_traits<System>` gives the explicit execution policy and the owning vector, so that
/// several systems coexist in one program regardless of THRUST_DEVICE_SYSTEM: the backend never
/// relies on thrust's "device" default.
#include <string_view>

#include "rlhf/config.hpp"

// A host compiler cannot build thrust's CUDA device system; the backend names its systems
// explicitly, so only the (otherwise unused) default has to be made host-compilable here.
#if !defined(__CUDACC__) && !defined(THRUST_DEVICE_SYSTEM)
#define THRUST_DEVICE_SYSTEM THRUST_DEVICE_SYSTEM_OMP
#endif

#include <thrust/system/cpp/execution_policy.h>
#include <thrust/system/cpp/vector.h>
#include <thrust/system/omp/execution_policy.h>
#include <thrust/system/omp/vector.h>
#if defined(__CUDACC__)
#include <thrust/system/cuda/execution_policy.h>
#include <thrust/system/cuda/vector.h>
#endif

namespace rlhf {

/// Memory owned by the thrust system `System` (a thrust tag type). Distinct from host_space
/// and from the space of every other system, so a view of the wrong space does not convert and
/// a host view passed to a thrust kernel is a compile error (tests/compile_fail).
template <class System>
struct thrust_space {
  using system = System;
};

namespace backend {

/// Per-system facts: the execution policy every kernel passes explicitly, the owning vector,
/// whether memory is dereferenceable on the host, and the backend's name.
template <class System>
struct system_traits;  // only the systems below are supported

template <>
struct system_traits<::thrust::system::omp::tag> {
  static constexpr bool host_accessible = true;
  static constexpr std::string_view name = "thrust-omp";
  static auto policy() noexcept { return ::thrust::omp::par; }
  template <class T>
  using vector = ::thrust::omp::vector<T>;
};

template <>
struct system_traits<::thrust::system::cpp::tag> {
  static constexpr bool host_accessible = true;
  static constexpr std::string_view name = "thrust-cpp";
  static auto policy() noexcept { return ::thrust::cpp::par; }
  template <class T>
  using vector = ::thrust::cpp::vector<T>;
};

#if defined(__CUDACC__)
template <>
struct system_traits<::thrust::system::cuda::tag> {
  static constexpr bool host_accessible = false;
  static constexpr std::string_view name = "thrust-cuda";
  static auto policy() noexcept { return ::thrust::cuda::par; }
  template <class T>
  using vector = ::thrust::cuda::vector<T>;
};
#endif

}  // namespace backend
}  // namespace rlhf
