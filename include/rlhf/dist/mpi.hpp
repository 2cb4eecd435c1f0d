// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// `mpi_communicator`: the `communicator` concept on MPI (Open MPI from Debian: libopenmpi-dev,
/// openmpi-bin; any MPI-3 library works). Needs <mpi.h> and the MPI library: link `rlhf::mpi`
/// (CMake option RLHF_MPI, found with FindMPI), which also defines RLHF_WITH_MPI=1 so that
/// `dist::world()` uses it.
///
/// Start-up: `mpi_communicator::world()` initialises MPI on first use (MPI_THREAD_FUNNELED: only
/// the main thread calls MPI, OpenMP threads never do) when this process was started by an MPI
/// launcher (mpirun / mpiexec / srun set OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_SIZE or
/// MV2_COMM_WORLD_SIZE) or when RLHF_MPI=1 is set, and finalises it at exit; a plain start is a
/// single process that never loads the MPI runtime (its singleton start-up costs ~0.5 s here).
///
/// Sums are formed once and broadcast (MPI_Reduce to rank 0, then MPI_Bcast), so every process
/// holds the same bits even where an MPI_Allreduce algorithm would associate differently per
/// rank. MPI errors are returned, not fatal (MPI_ERRORS_RETURN), and become rlhf::io_error
/// naming the call; `abort` ends the whole job after an error on one process.
#if !__has_include(<mpi.h>)
#error "rlhf/dist/mpi.hpp needs <mpi.h>: install Open MPI (apt-get install -y libopenmpi-dev openmpi-bin) and link rlhf::mpi (configure with -DRLHF_MPI=ON)"
#endif
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/dist/communicator.hpp"

namespace rlhf::dist {

namespace detail {
/// @throws rlhf::io_error naming the MPI call and MPI's own message
inline void mpi_check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  RLHF_THROW(io_error, "MPI: ", call, " failed: ", std::string(text, static_cast<std::size_t>(len)),
             " (a process of the job may have died; see its output)");
}

/// Whether an MPI launcher started this process (or RLHF_MPI=1 asks for MPI anyway).
inline bool launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK", "MV2_COMM_WORLD_SIZE"})
    if (std::getenv(var) != nullptr) return true;
  const char* force = std::getenv("RLHF_MPI");
  return force != nullptr && std::string(force) == "1";
}

/// Initialises MPI once per process (and finalises it at exit) when it is not initialised yet.
/// Returns false when this process was not started by a launcher (nothing is initialised).
inline bool ensure_mpi() {
  int ready = 0;
  MPI_Initialized(&ready);
  if (ready) return true;
  if (!launched_by_mpi()) return false;
  int provided = 0;
  mpi_check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  std::atexit([] {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  });
  return true;
}

template <class T> MPI_Datatype mpi_type();
template <> inline MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <> inline MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }

/// MPI counts are int: a buffer is sent in chunks of at most 2^30 elements.
constexpr std::size_t mpi_chunk = std::size_t{1} << 30;
}  // namespace detail

/// The `communicator` concept on one MPI communicator (see the file comment).
class mpi_communicator {
 public:
  /// This process's world: MPI_COMM_WORLD when launched by MPI (or RLHF_MPI=1), else rank 0 of
  /// 1 without touching MPI.
  static mpi_communicator world() {
    if (!detail::ensure_mpi()) return mpi_communicator();
    return mpi_communicator(MPI_COMM_WORLD);
  }
  /// A communicator of the caller's (MPI must be initialised; errors are made non-fatal on it).
  explicit mpi_communicator(MPI_Comm comm) : comm_(comm), live_(true) {
    detail::mpi_check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    detail::mpi_check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  }

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  MPI_Comm native() const noexcept { return live_ ? comm_ : MPI_COMM_NULL; }

  void all_reduce_sum(std::span<float> x) const { sum(x); }
  void all_reduce_sum(std::span<double> x) const { sum(x); }
  void broadcast(std::span<float> x, int root) const { bcast(x, root); }
  void broadcast(std::span<double> x, int root) const { bcast(x, root); }

  std::vector<std::string> all_gather(const std::string& bytes) const {
    if (size_ == 1) return {bytes};
    RLHF_EXPECTS(bytes.size() <= static_cast<std::size_t>(INT_MAX), "MPI all_gather: ", bytes.size(),
                 " bytes from one process exceed MPI's int count");
    int mine = static_cast<int>(bytes.size());
    std::vector<int> counts(static_cast<std::size_t>(size_)), offsets(static_cast<std::size_t>(size_));
    detail::mpi_check(MPI_Allgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, comm_), "MPI_Allgather");
    long long total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[static_cast<std::size_t>(r)] = static_cast<int>(total);
      total += counts[static_cast<std::size_t>(r)];
    }
    RLHF_EXPECTS(total <= INT_MAX, "MPI all_gather: ", total, " bytes in all exceed MPI's int count");
    std::string all(static_cast<std::size_t>(total), '\0');
    detail::mpi_check(MPI_Allgatherv(bytes.data(), mine, MPI_CHAR, all.data(), counts.data(), offsets.data(), MPI_CHAR,
                                     comm_),
                      "MPI_Allgatherv");
    std::vector<std::string> out;
    out.reserve(static_cast<std::size_t>(size_));
    for (int r = 0; r < size_; ++r)
      out.push_back(all.substr(static_cast<std::size_t>(offsets[static_cast<std::size_t>(r)]),
                               static_cast<std::size_t>(counts[static_cast<std::size_t>(r)])));
    return out;
  }

  void barrier() const {
    if (size_ > 1) detail::mpi_check(MPI_Barrier(comm_), "MPI_Barrier");
  }
  /// Ends every process of the job (after an error on this one: the others would wait forever
  /// in their next collective).
  void abort(int code) const noexcept {
    if (size_ > 1) MPI_Abort(comm_, code);
  }
  const char* name() const noexcept { return "mpi"; }

 private:
  mpi_communicator() = default;  // one process, MPI untouched

  template <class T>
  void sum(std::span<T> x) const {
    if (size_ == 1) return;
    for (std::size_t i = 0; i < x.size(); i += detail::mpi_chunk) {
      const int n = static_cast<int>(std::min(detail::mpi_chunk, x.size() - i));
      T* p = x.data() + i;
      detail::mpi_check(rank_ == 0 ? MPI_Reduce(MPI_IN_PLACE, p, n, detail::mpi_type<T>(), MPI_SUM, 0, comm_)
                                   : MPI_Reduce(p, nullptr, n, detail::mpi_type<T>(), MPI_SUM, 0, comm_),
                        "MPI_Reduce");
      detail::mpi_check(MPI_Bcast(p, n, detail::mpi_type<T>(), 0, comm_), "MPI_Bcast");
    }
  }
  template <class T>
  void bcast(std::span<T> x, int root) const {
    if (size_ == 1) return;
    RLHF_EXPECTS(root >= 0 && root < size_, "MPI broadcast: root ", root, " is not a rank of ", size_);
    for (std::size_t i = 0; i < x.size(); i += detail::mpi_chunk) {
      const int n = static_cast<int>(std::min(detail::mpi_chunk, x.size() - i));
      detail::mpi_check(MPI_Bcast(x.data() + i, n, detail::mpi_type<T>(), root, comm_), "MPI_Bcast");
    }
  }

  MPI_Comm comm_{};
  bool live_ = false;
  int rank_ = 0, size_ = 1;
};
static_assert(communicator<mpi_communicator>);

}  // namespace rlhf::dist
