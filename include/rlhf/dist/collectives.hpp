// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Collectives on a compute backend's buffers: `all_reduce_sum<Backend>(comm, view)` and
/// `broadcast<Backend>(comm, view, root)` take a view in the backend's memory space. Host memory
/// goes to the communicator as it is; device memory goes straight to a communicator that reduces
/// device buffers (NCCL) and is staged through one host copy otherwise (MPI without CUDA
/// awareness, thrust's OMP system).
#include <cstddef>
#include <span>
#include <type_traits>
#include <vector>

#include "rlhf/backend/backend.hpp"
#include "rlhf/core/view.hpp"
#include "rlhf/dist/any_communicator.hpp"

namespace rlhf::dist {

namespace detail {
/// Runs `op(span)` on a float/double buffer of the backend: in place for host memory; for
/// device memory, `device_op(ptr, n)` when the communicator takes device buffers, else through
/// one host copy.
template <compute_backend Backend, class T, class HostOp, class DeviceOp>
void on_backend_buffer(const any_communicator& c, view<T, typename Backend::space> x, HostOp host_op, DeviceOp device_op) {
  if (c.size() == 1 || x.size() == 0) return;
  if constexpr (std::is_same_v<typename Backend::space, host_space>) {
    host_op(x.span());
  } else {
    if constexpr (std::is_same_v<T, float>) {
      if (c.reduces_device_memory()) {
        device_op(x.data(), static_cast<std::size_t>(x.size()));
        return;
      }
    }
    std::vector<T> host(static_cast<std::size_t>(x.size()));
    Backend::to_host(std::span<T>(host), view<const T, typename Backend::space>(x));
    host_op(std::span<T>(host));
    Backend::from_host(x, std::span<const T>(host));
  }
}
}  // namespace detail

/// In-place Σ over processes of a backend buffer (every process ends with the same bits).
template <compute_backend Backend, class T>
void all_reduce_sum(const any_communicator& c, view<T, typename Backend::space> x) {
  detail::on_backend_buffer<Backend, T>(
      c, x, [&](std::span<T> s) { c.all_reduce_sum(s); },
      [&](float* p, std::size_t n) { c.all_reduce_sum_device(p, n); });
}

/// In place: every process ends with `root`'s backend buffer.
template <compute_backend Backend, class T>
void broadcast(const any_communicator& c, view<T, typename Backend::space> x, int root) {
  detail::on_backend_buffer<Backend, T>(
      c, x, [&](std::span<T> s) { c.broadcast(s, root); },
      [&](float* p, std::size_t n) { c.broadcast_device(p, n, root); });
}

}  // namespace rlhf::dist
