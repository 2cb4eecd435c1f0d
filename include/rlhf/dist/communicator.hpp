// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// What data-parallel training needs from a distributed engine, and nothing more (llm.c's
/// multi-GPU path, torch.distributed's ProcessGroup cut to its core): the process's rank and the
/// number of processes, an in-place sum over all processes of one flat buffer, a broadcast of one
/// buffer from a root, an all-gather of one byte string per process, and a barrier.
///
/// Models of `communicator`: `single_process` (here; no dependency, the default),
/// `mpi_communicator` (dist/mpi.hpp, Open MPI or any MPI; RLHF_WITH_MPI), `nccl_communicator`
/// (dist/nccl.hpp, device buffers under nvcc; RLHF_WITH_NCCL). `dist::world()` (dist/world.hpp)
/// returns the build's default one for this process, type-erased as `any_communicator` so the
/// training loop carries it in its options without a template parameter on every trainer (as
/// `any_sampler` carries a runtime sampler chain).
///
/// Contract every model keeps: every process calls the same collectives in the same order with
/// the same sizes; after `all_reduce_sum` every process holds the SAME bits (the sum is formed
/// once and broadcast, never reassociated per process), so replicas that apply the same update
/// to the same weights stay identical without a resynchronisation.
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace rlhf::dist {

/// A communicator among a fixed group of processes (see the file comment).
template <class C>
concept communicator = std::copy_constructible<C> &&
    requires(const C& c, std::span<float> f, std::span<double> d, const std::string& bytes, int root) {
      { c.rank() } -> std::same_as<int>;
      { c.size() } -> std::same_as<int>;
      c.all_reduce_sum(f);  // in place: every process ends with Σ_ranks f, bit-identical
      c.all_reduce_sum(d);
      c.broadcast(f, root);  // in place: every process ends with root's f
      c.broadcast(d, root);
      { c.all_gather(bytes) } -> std::same_as<std::vector<std::string>>;  // [rank] = that rank's bytes
      c.barrier();
    };

/// One process: rank 0 of 1; every collective is the identity. No dependency.
struct single_process {
  static single_process world() noexcept { return {}; }
  int rank() const noexcept { return 0; }
  int size() const noexcept { return 1; }
  void all_reduce_sum(std::span<float>) const noexcept {}
  void all_reduce_sum(std::span<double>) const noexcept {}
  void broadcast(std::span<float>, int) const noexcept {}
  void broadcast(std::span<double>, int) const noexcept {}
  std::vector<std::string> all_gather(const std::string& bytes) const { return {bytes}; }
  void barrier() const noexcept {}
  /// Ends the job after an error on this process: a no-op for one process (the caller exits).
  void abort(int) const noexcept {}
  const char* name() const noexcept { return "single"; }
};
static_assert(communicator<single_process>);

/// The records [first, last) of a batch of n that rank r of p takes: contiguous, disjoint, in
/// order, covering [0, n); sizes differ by at most one (the first n mod p ranks take one more).
struct shard_range {
  std::size_t first = 0, last = 0;
  std::size_t size() const noexcept { return last - first; }
};
inline shard_range shard(std::size_t n, int rank, int size) noexcept {
  const auto p = static_cast<std::size_t>(size), r = static_cast<std::size_t>(rank);
  const std::size_t base = n / p, extra = n % p;
  const std::size_t first = r * base + (r < extra ? r : extra);
  return {first, first + base + (r < extra ? 1 : 0)};
}

}  // namespace rlhf::dist
