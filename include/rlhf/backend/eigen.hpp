// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// `rlhf::backend::eigen`: the CPU compute backend. Storage is rlhf::host_buffer (64-byte
/// aligned host memory); dense products are Eigen GEMMs on row-major maps, everything else is
/// vectorised Eigen array code or tight loops, parallelised with OpenMP over chunks fixed by the
/// shape, so results are bitwise identical for any thread count. Float storage; long reductions
/// (row statistics, softmax sums, bias and embedding gradients, sum/sum_squares) accumulate in
/// double. The kernel contract is the table in rlhf/backend/backend.hpp; docs/kernels.md
/// explains the conventions. One header per kernel family lives in rlhf/backend/eigen/.
#include <string_view>

#include <Eigen/Core>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "rlhf/backend/backend.hpp"
#include "rlhf/backend/eigen/attention.hpp"
#include "rlhf/backend/eigen/cross_entropy.hpp"
#include "rlhf/backend/eigen/embedding.hpp"
#include "rlhf/backend/eigen/gelu.hpp"
#include "rlhf/backend/eigen/layernorm.hpp"
#include "rlhf/backend/eigen/matmul.hpp"
#include "rlhf/backend/eigen/memory.hpp"
#include "rlhf/backend/eigen/optimizer.hpp"
#include "rlhf/backend/eigen/pick.hpp"
#include "rlhf/backend/eigen/softmax.hpp"
#include "rlhf/backend/host_buffer.hpp"

namespace rlhf::backend {

/// The Eigen (CPU) backend: a model of rlhf::compute_backend. Every kernel is a static member
/// function template over float and double, inherited from its family's kernel struct.
/// Argument order: outputs (gradients) first, then the upstream gradient, then saved inputs,
/// then scalars (docs/kernels.md lists each signature).
struct eigen : eigen_detail::memory_kernels,
               eigen_detail::matmul_kernels,
               eigen_detail::layernorm_kernels,
               eigen_detail::gelu_kernels,
               eigen_detail::softmax_kernels,
               eigen_detail::cross_entropy_kernels,
               eigen_detail::embedding_kernels,
               eigen_detail::attention_kernels,
               eigen_detail::optimizer_kernels,
               eigen_detail::pick_kernels {
  using space = host_space;
  template <class T>
  using buffer = host_buffer<T>;

  static constexpr std::string_view name() noexcept { return "eigen"; }

  /// Threads for Eigen's products and the OpenMP loops of this backend (results do not depend
  /// on it). n >= 1.
  static void set_num_threads(int n) {
    RLHF_EXPECTS(n >= 1, "eigen::set_num_threads: n = ", n, "; use at least one thread");
    Eigen::setNbThreads(n);
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
  }
  /// The thread count kernels use.
  static int num_threads() noexcept { return Eigen::nbThreads(); }
};

static_assert(rlhf::compute_backend<eigen>);

}  // namespace rlhf::backend
