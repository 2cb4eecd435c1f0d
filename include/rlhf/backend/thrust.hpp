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
/// Compile with nvcc flags --extended-lambda --expt-relaxed-constexpr (CMake's cuda preset).
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "rlhf/backend/backend.hpp"
#include "rlhf/backend/thrust/attention.hpp"
#include "rlhf/backend/thrust/buffer.hpp"
#include "rlhf/backend/thrust/elementwise.hpp"
#include "rlhf/backend/thrust/embedding.hpp"
#include "rlhf/backend/thrust/layernorm.hpp"
#include "rlhf/backend/thrust/matmul.hpp"
#include "rlhf/backend/thrust/softmax.hpp"
#include "rlhf/backend/thrust/system.hpp"

namespace rlhf::backend {

/// The GPT-2 kernel set of compute_backend on thrust system `System` (a thrust tag type; see
/// system_traits). Stateless: every kernel is a static function on views in thrust_space<System>.
template <class System>
struct thrust {
  using system = System;
  using space = thrust_space<System>;
  template <class T>
  using buffer = thrust_buffer<T, System>;

  /// A mutable view in this backend's space (an output; its element type drives deduction).
  template <class T>
  using out_view = view<T, space>;
  /// A read-only view; non-deduced so that a mutable view of the same space converts to it.
  template <class T>
  using in_view = std::type_identity_t<view<const T, space>>;
  using index_view = view<const std::int32_t, space>;
  /// A scalar that does not take part in deduction (lets 0.5 bind to float).
  template <class T>
  using scalar = std::type_identity_t<T>;

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

  // ---- element-wise and reductions ----
  template <class T>
  static void fill(out_view<T> x, scalar<T> a) { thrust_ops::fill<System, T>(x, a); }
  template <class T>
  static void copy(out_view<T> y, in_view<T> x) { thrust_ops::copy<System, T>(y, x); }
  template <class T>
  static void axpy(out_view<T> y, scalar<T> a, in_view<T> x) { thrust_ops::axpy<System, T>(y, a, x); }
  template <class T>
  static void scale(out_view<T> x, scalar<T> a) { thrust_ops::scale<System, T>(x, a); }
  template <class T>
  static void add(out_view<T> out, in_view<T> a, in_view<T> b) { thrust_ops::add<System, T>(out, a, b); }
  template <class T>
  static double sum(view<const T, space> x) { return thrust_ops::sum<System, T>(x); }
  template <class T>
  static double sum(view<T, space> x) { return thrust_ops::sum<System, T>(x); }
  template <class T>
  static double sum_squares(view<const T, space> x) { return thrust_ops::sum_squares<System, T>(x); }
  template <class T>
  static double sum_squares(view<T, space> x) { return thrust_ops::sum_squares<System, T>(x); }

  // ---- host transfers ----
  /// out = x, from this backend's memory to host memory; sizes must agree.
  template <class T>
  static void to_host(std::span<T> out, in_view<T> x) {
    RLHF_EXPECTS(static_cast<index_t>(out.size()) == x.size(), "to_host: the host span holds ",
                 out.size(), " elements but the view has ", x.size(), "; size them equally");
    thrust_ops::copy_to_host<System>(out.data(), x.data(), x.size());
  }
  /// x = in, from host memory to this backend's memory; sizes must agree.
  template <class T>
  static void from_host(out_view<T> x, std::type_identity_t<std::span<const T>> in) {
    RLHF_EXPECTS(static_cast<index_t>(in.size()) == x.size(), "from_host: the host span holds ",
                 in.size(), " elements but the view has ", x.size(), "; size them equally");
    thrust_ops::copy_from_host<System>(x.data(), in.data(), x.size());
  }

  // ---- dense layer ----
  template <class T>
  static void matmul_forward(out_view<T> out, in_view<T> inp, in_view<T> weight, in_view<T> bias,
                             bool transpose_weight) {
    thrust_ops::matmul_forward<System, T>(out, inp, weight, bias, transpose_weight);
  }
  template <class T>
  static void matmul_backward(out_view<T> dinp, out_view<T> dweight, out_view<T> dbias,
                              in_view<T> dout, in_view<T> inp, in_view<T> weight,
                              bool transpose_weight) {
    thrust_ops::matmul_backward<System, T>(dinp, dweight, dbias, dout, inp, weight, transpose_weight);
  }

  // ---- normalisation and activations ----
  template <class T>
  static void layernorm_forward(out_view<T> out, out_view<T> mean, out_view<T> rstd, in_view<T> inp,
                                in_view<T> weight, in_view<T> bias, scalar<T> eps) {
    thrust_ops::layernorm_forward<System, T>(out, mean, rstd, inp, weight, bias, eps);
  }
  template <class T>
  static void layernorm_backward(out_view<T> dinp, out_view<T> dweight, out_view<T> dbias,
                                 in_view<T> dout, in_view<T> inp, in_view<T> weight,
                                 in_view<T> mean, in_view<T> rstd) {
    thrust_ops::layernorm_backward<System, T>(dinp, dweight, dbias, dout, inp, weight, mean, rstd);
  }
  template <class T>
  static void gelu_forward(out_view<T> out, in_view<T> inp) { thrust_ops::gelu_forward<System, T>(out, inp); }
  template <class T>
  static void gelu_backward(out_view<T> dinp, in_view<T> dout, in_view<T> inp) {
    thrust_ops::gelu_backward<System, T>(dinp, dout, inp);
  }

  // ---- softmax family ----
  template <class T>
  static void softmax_forward(out_view<T> out, in_view<T> x) { thrust_ops::softmax_forward<System, T>(out, x); }
  template <class T>
  static void softmax_backward(out_view<T> dx, in_view<T> dout, in_view<T> probs) {
    thrust_ops::softmax_backward<System, T>(dx, dout, probs);
  }
  template <class T>
  static void log_softmax_forward(out_view<T> out, in_view<T> x) {
    thrust_ops::log_softmax_forward<System, T>(out, x);
  }
  template <class T>
  static void log_softmax_backward(out_view<T> dx, in_view<T> dout, in_view<T> logp) {
    thrust_ops::log_softmax_backward<System, T>(dx, dout, logp);
  }
  template <class T>
  static void logsumexp_forward(out_view<T> out, in_view<T> x) { thrust_ops::logsumexp_forward<System, T>(out, x); }
  template <class T>
  static void logsumexp_backward(out_view<T> dx, in_view<T> dout, in_view<T> x, in_view<T> lse) {
    thrust_ops::logsumexp_backward<System, T>(dx, dout, x, lse);
  }
  template <class T>
  static void cross_entropy_forward(out_view<T> logp, out_view<T> lse, in_view<T> x, index_view targets) {
    thrust_ops::cross_entropy_forward<System, T>(logp, lse, x, targets);
  }
  template <class T>
  static void cross_entropy_backward(out_view<T> dx, in_view<T> dlogp, in_view<T> x, in_view<T> lse,
                                     index_view targets) {
    thrust_ops::cross_entropy_backward<System, T>(dx, dlogp, x, lse, targets);
  }

  // ---- embeddings and rows ----
  template <class T>
  static void embedding_forward(out_view<T> out, in_view<T> wte, in_view<T> wpe, index_view tokens,
                                index_view positions) {
    thrust_ops::embedding_forward<System, T>(out, wte, wpe, tokens, positions);
  }
  template <class T>
  static void embedding_backward(out_view<T> dwte, out_view<T> dwpe, in_view<T> dout,
                                 index_view tokens, index_view positions) {
    thrust_ops::embedding_backward<System, T>(dwte, dwpe, dout, tokens, positions);
  }
  template <class T>
  static void gather_rows(out_view<T> out, in_view<T> inp, index_view idx) {
    thrust_ops::gather_rows<System, T>(out, inp, idx);
  }
  template <class T>
  static void scatter_add_rows(out_view<T> dinp, in_view<T> dout, index_view idx) {
    thrust_ops::scatter_add_rows<System, T>(dinp, dout, idx);
  }

  // ---- attention ----
  template <class T>
  static void split_qkv(out_view<T> q, out_view<T> k, out_view<T> v, in_view<T> qkv) {
    thrust_ops::split_qkv<System, T>(q, k, v, qkv);
  }
  template <class T>
  static void split_qkv_backward(out_view<T> dqkv, in_view<T> dq, in_view<T> dk, in_view<T> dv) {
    thrust_ops::split_qkv_backward<System, T>(dqkv, dq, dk, dv);
  }
  template <class T>
  static void attention_forward(out_view<T> out, out_view<T> probs, in_view<T> q, in_view<T> k,
                                in_view<T> v, in_view<T> k_cache, in_view<T> v_cache,
                                index_view cache_row, index_view cache_len, int n_head) {
    thrust_ops::attention_forward<System, T>(out, probs, q, k, v, k_cache, v_cache, cache_row,
                                             cache_len, n_head);
  }
  template <class T>
  static void attention_backward(out_view<T> dq, out_view<T> dk, out_view<T> dv, in_view<T> dout,
                                 in_view<T> q, in_view<T> k, in_view<T> v, in_view<T> probs,
                                 int n_head) {
    thrust_ops::attention_backward<System, T>(dq, dk, dv, dout, q, k, v, probs, n_head);
  }
  template <class T>
  static void kv_write(out_view<T> cache, in_view<T> src, index_view cache_row, index_view cache_len,
                       index_view count) {
    thrust_ops::kv_write<System, T>(cache, src, cache_row, cache_len, count);
  }

  // ---- optimiser ----
  template <class T>
  static void adamw_update(out_view<T> param, in_view<T> grad, out_view<T> m, out_view<T> v,
                           scalar<T> lr, scalar<T> beta1, scalar<T> beta2, scalar<T> eps,
                           scalar<T> weight_decay, std::int64_t step) {
    thrust_ops::adamw_update<System, T>(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, step);
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
