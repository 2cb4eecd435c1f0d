// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// CUDA runtime and cuBLAS status checks that throw instead of exiting (llm.c's cudaCheck and
/// cublasCheck, made recoverable): a failing call raises rlhf::backend::device_error carrying
/// the status, the call and the source location. nvcc only.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "rlhf/core/error.hpp"

namespace rlhf::backend {

/// A CUDA runtime or cuBLAS call failed (no device, out of memory, a launch failure). The
/// message names the call, the status and where it was made.
class device_error : public rlhf::error {
 public:
  device_error(const std::string& msg, int status) : rlhf::error(msg), status_(status) {}
  /// The cudaError_t or cublasStatus_t value.
  int status() const noexcept { return status_; }

 private:
  int status_;
};

namespace detail {
inline void cuda_check(cudaError_t s, const char* call, const char* file, int line) {
  if (s == cudaSuccess) return;
  throw device_error(rlhf::detail::concat("CUDA call ", call, " failed at ", file, ":", line, ": ",
                                          cudaGetErrorName(s), " (", cudaGetErrorString(s),
                                          "); check that a CUDA device is present and has free "
                                          "memory"),
                     static_cast<int>(s));
}
inline void cublas_check(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  throw device_error(rlhf::detail::concat("cuBLAS call ", call, " failed at ", file, ":", line,
                                          ": ", cublasGetStatusName(s), " (",
                                          cublasGetStatusString(s), ")"),
                     static_cast<int>(s));
}
}  // namespace detail
}  // namespace rlhf::backend

#define RLHF_CUDA_CHECK(call) ::rlhf::backend::detail::cuda_check((call), #call, __FILE__, __LINE__)
#define RLHF_CUBLAS_CHECK(call) \
  ::rlhf::backend::detail::cublas_check((call), #call, __FILE__, __LINE__)
