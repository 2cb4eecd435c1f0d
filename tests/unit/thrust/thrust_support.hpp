// SPDX-License-Identifier: MIT
#pragma once
/// Helpers for the thrust-specific tests: host <-> backend copies of std::vector.
#include <span>
#include <vector>

#include "rlhf/backend/thrust.hpp"
#if defined(__CUDACC__)
#include <cuda_runtime.h>
#endif

/// The thrust systems the thrust-specific tests run on: both host systems, and CUDA under nvcc
/// (compiled everywhere, run where a device is present).
#if defined(__CUDACC__)
#define RLHF_THRUST_TEST_SYSTEMS \
  rlhf::backend::thrust_host, rlhf::backend::thrust_cpp, rlhf::backend::thrust_cuda
#else
#define RLHF_THRUST_TEST_SYSTEMS rlhf::backend::thrust_host, rlhf::backend::thrust_cpp
#endif

namespace rlhf::test {

/// Whether backend B can run here: host systems always, CUDA when a device is present (tests
/// on a device-less machine return early with a warning instead of failing).
template <class B>
bool system_available() {
  if constexpr (rlhf::backend::system_traits<typename B::system>::host_accessible) {
    return true;
  } else {
#if defined(__CUDACC__)
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
#else
    return false;
#endif
  }
}

/// A backend buffer of shape s holding h.
template <class B, class T>
typename B::template buffer<T> upload(const std::vector<T>& h, rlhf::shape s) {
  typename B::template buffer<T> b(s);
  B::from_host(b.view(), std::span<const T>(h));
  return b;
}

/// The contents of a backend view, on the host.
template <class B, class T>
std::vector<std::remove_const_t<T>> download(rlhf::view<T, typename B::space> v) {
  std::vector<std::remove_const_t<T>> h(static_cast<std::size_t>(v.size()));
  B::to_host(std::span<std::remove_const_t<T>>(h), rlhf::view<const std::remove_const_t<T>, typename B::space>(v));
  return h;
}

}  // namespace rlhf::test
