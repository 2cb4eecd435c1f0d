// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The thrust backend: `rlhf::backend::thrust<System>`, a compute_backend (rlhf/backend/backend.hpp)
/// written with thrust algorithms and RLHF_HOST_DEVICE lambdas only, on an explicit thrust system:
///
///  - `thrust_host` = thrust<thrust::system::omp::tag>: OpenMP threads (policy thrust::omp::par);
///  - `thrust_cpp`  = thrust<thrust::system::cpp::tag>: sequential host;
///  - `thrust_cuda` = thrust<thrust::system::cuda::tag> (nvcc only): CUDA device memory, cuBLAS
///    for GEMM, thrust for the rest;
///  - `thrust_default`: the system CMake's RLHF_BACKEND chose (RLHF_THRUST_SYSTEM_OMP / _CPP /
///    _CUDA; OMP when none is set).
///
/// Each system has its own memory space, thrust_space<System>, so views of one system do not
/// convert to another's or to host_space; data crosses only through to_host / from_host.
/// Kernel semantics, argument order (outputs, then dout, then inputs, then scalars) and error
/// behaviour are those of the contract table and match rlhf::backend::eigen.
/// One header per kernel family lives in rlhf/backend/thrust/ (the families of
/// rlhf/backend/eigen/); `thrust` inherits each family's kernel struct, as `eigen` does.
/// Compile with nvcc flags --extended-lambda --expt-relaxed-constexpr (CMake's cuda preset).
#include <string_view>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "rlhf/backend/backend.hpp"
#include "rlhf/backend/thrust/attention.hpp"
#include "rlhf/backend/thrust/buffer.hpp"
#include "rlhf/backend/thrust/cross_entropy.hpp"
#include "rlhf/backend/thrust/embedding.hpp"
#include "rlhf/backend/thrust/gelu.hpp"
#include "rlhf/backend/thrust/layernorm.hpp"
#include "rlhf/backend/thrust/matmul.hpp"
#include "rlhf/backend/thrust/memory.hpp"
#include "rlhf/backend/thrust/optimizer.hpp"
#include "rlhf/backend/thrust/pick.hpp"
#include "rlhf/backend/thrust/softmax.hpp"
#include "rlhf/backend/thrust/system.hpp"

namespace rlhf::backend {

/// The GPT-2 kernel set of compute_backend on thrust system `System` (a thrust tag type; see
/// system_traits). Stateless: every kernel is a static member function template over float and
/// double on views in thrust_space<System>, inherited from its family's kernel struct.
/// Argument order: outputs (gradients) first, then the upstream gradient, then saved inputs,
/// then scalars (docs/kernels.md lists each signature).
template <class System>
struct thrust : thrust_detail::memory_kernels<System>,
                thrust_detail::matmul_kernels<System>,
                thrust_detail::layernorm_kernels<System>,
                thrust_detail::gelu_kernels<System>,
                thrust_detail::softmax_kernels<System>,
                thrust_detail::cross_entropy_kernels<System>,
                thrust_detail::embedding_kernels<System>,
                thrust_detail::attention_kernels<System>,
                thrust_detail::optimizer_kernels<System>,
                thrust_detail::pick_kernels<System> {
  using system = System;
  using space = thrust_space<System>;
  template <class T>
  using buffer = thrust_buffer<T, System>;

  static constexpr std::string_view name() noexcept { return system_traits<System>::name; }

  /// Host threads of the OMP system's algorithms (OpenMP); the CPP and CUDA systems run no host
  /// threads of their own, so for them it only sets OpenMP's default. n >= 1.
  static void set_num_threads(int n) {
    RLHF_EXPECTS(n >= 1, name(), "::set_num_threads: n = ", n, "; use at least one thread");
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
  }
  /// The thread count the OMP system's algorithms use.
  static int num_threads() noexcept {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
  }
};

/// OpenMP threads on the host (thrust::omp::par): the thrust backend of CPU builds and tests.
using thrust_host = thrust<::thrust::system::omp::tag>;
/// Sequential host system (thrust::cpp::par).
using thrust_cpp = thrust<::thrust::system::cpp::tag>;
static_assert(rlhf::compute_backend<thrust_host>);
static_assert(rlhf::compute_backend<thrust_cpp>);
#if defined(__CUDACC__)
/// CUDA device memory; cuBLAS GEMM (nvcc only).
using thrust_cuda = thrust<::thrust::system::cuda::tag>;
static_assert(rlhf::compute_backend<thrust_cuda>);
#endif

#if defined(RLHF_THRUST_SYSTEM_CUDA)
#if !defined(__CUDACC__)
#error "RLHF_BACKEND=THRUST_CUDA: translation units that include rlhf must be compiled by nvcc (CMake's cuda preset marks them LANGUAGE CUDA)"
#endif
/// The thrust system selected by RLHF_BACKEND (CMake).
using thrust_default = thrust_cuda;
#elif defined(RLHF_THRUST_SYSTEM_CPP)
/// The thrust system selected by RLHF_BACKEND (CMake).
using thrust_default = thrust_cpp;
#else
/// The thrust system selected by RLHF_BACKEND (CMake); OpenMP unless told otherwise.
using thrust_default = thrust_host;
#endif

}  // namespace rlhf::backend
