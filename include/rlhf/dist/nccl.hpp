// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// `nccl_communicator`: sums and broadcasts device buffers with NCCL (the CUDA toolkit's
/// libnccl) and everything else over MPI, which also bootstraps it (rank 0 makes the NCCL id and
/// broadcasts it), as llm.c's multi-GPU build does. Only host calls of the CUDA runtime and NCCL:
/// any compiler of the build may include it. RLHF_WITH_NCCL=1 (CMake: RLHF_MPI=ON under the cuda
/// preset, when the toolkit has nccl.h) makes `dist::world()` use it in every translation unit.
///
/// Each process drives one GPU: the one numbered by its rank among the processes of its host
/// (MPI_Comm_split_type SHARED), modulo the GPUs it sees. NCCL's ring gives every rank the same
/// sum. Errors (a peer died, a CUDA error) become rlhf::io_error naming the call.
#if !__has_include(<nccl.h>) || !__has_include(<cuda_runtime.h>)
#error "rlhf/dist/nccl.hpp needs the CUDA toolkit's nccl.h and cuda_runtime.h (configure the cuda preset with -DRLHF_MPI=ON)"
#endif
#include <cuda_runtime.h>
#include <nccl.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/dist/mpi.hpp"

namespace rlhf::dist {

namespace detail {
inline void nccl_check(ncclResult_t code, const char* call) {
  if (code != ncclSuccess) RLHF_THROW(io_error, "NCCL: ", call, " failed: ", ncclGetErrorString(code));
}
inline void cuda_check(cudaError_t code, const char* call) {
  if (code != cudaSuccess) RLHF_THROW(io_error, "CUDA: ", call, " failed: ", cudaGetErrorString(code));
}
struct nccl_state {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  ~nccl_state() {
    if (comm) ncclCommDestroy(comm);
    if (stream) cudaStreamDestroy(stream);
  }
};
}  // namespace detail

/// The `communicator` concept over MPI, plus device-buffer sums and broadcasts over NCCL.
class nccl_communicator {
 public:
  /// This process's world (one process when not launched by MPI: no NCCL communicator is made).
  static nccl_communicator world() { return nccl_communicator(mpi_communicator::world()); }

  explicit nccl_communicator(mpi_communicator host) : host_(std::move(host)) {
    if (host_.size() == 1) return;
    MPI_Comm local = MPI_COMM_NULL;
    detail::mpi_check(MPI_Comm_split_type(host_.native(), MPI_COMM_TYPE_SHARED, host_.rank(), MPI_INFO_NULL, &local),
                      "MPI_Comm_split_type");
    int local_rank = 0, devices = 0;
    MPI_Comm_rank(local, &local_rank);
    MPI_Comm_free(&local);
    detail::cuda_check(cudaGetDeviceCount(&devices), "cudaGetDeviceCount");
    RLHF_EXPECTS(devices > 0, "nccl: no CUDA device is visible to rank ", host_.rank());
    detail::cuda_check(cudaSetDevice(local_rank % devices), "cudaSetDevice");
    ncclUniqueId id{};
    if (host_.rank() == 0) detail::nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    detail::mpi_check(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, host_.native()), "MPI_Bcast (NCCL id)");
    state_ = std::make_shared<detail::nccl_state>();
    detail::cuda_check(cudaStreamCreateWithFlags(&state_->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    detail::nccl_check(ncclCommInitRank(&state_->comm, host_.size(), id, host_.rank()), "ncclCommInitRank");
  }

  int rank() const noexcept { return host_.rank(); }
  int size() const noexcept { return host_.size(); }
  void all_reduce_sum(std::span<float> x) const { host_.all_reduce_sum(x); }
  void all_reduce_sum(std::span<double> x) const { host_.all_reduce_sum(x); }
  void broadcast(std::span<float> x, int root) const { host_.broadcast(x, root); }
  void broadcast(std::span<double> x, int root) const { host_.broadcast(x, root); }
  std::vector<std::string> all_gather(const std::string& bytes) const { return host_.all_gather(bytes); }
  void barrier() const { host_.barrier(); }
  void abort(int code) const noexcept { host_.abort(code); }
  const char* name() const noexcept { return "nccl"; }

  /// In place Σ of n floats in device memory. The caller's kernels on the default stream are
  /// finished first (cudaDeviceSynchronize), and the sum is complete on return.
  void all_reduce_sum_device(float* p, std::size_t n) const {
    if (size() == 1 || n == 0) return;
    detail::cuda_check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    detail::nccl_check(ncclAllReduce(p, p, n, ncclFloat, ncclSum, state_->comm, state_->stream), "ncclAllReduce");
    detail::cuda_check(cudaStreamSynchronize(state_->stream), "cudaStreamSynchronize");
  }
  void broadcast_device(float* p, std::size_t n, int root) const {
    if (size() == 1 || n == 0) return;
    detail::cuda_check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    detail::nccl_check(ncclBroadcast(p, p, n, ncclFloat, root, state_->comm, state_->stream), "ncclBroadcast");
    detail::cuda_check(cudaStreamSynchronize(state_->stream), "cudaStreamSynchronize");
  }

 private:
  mpi_communicator host_;
  std::shared_ptr<detail::nccl_state> state_;
};
static_assert(communicator<nccl_communicator>);

}  // namespace rlhf::dist
