// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The build's communicator, chosen at compile time like the backend: `nccl_communicator` with
/// RLHF_WITH_NCCL (the cuda preset with RLHF_MPI), `mpi_communicator` with RLHF_WITH_MPI (link rlhf::mpi), else
/// `single_process` (no dependency). `world()` is this process's, made once and shared; the
/// training loop's options default to it, so every trainer is data-parallel under mpirun.
#include "rlhf/config.hpp"
#include "rlhf/dist/any_communicator.hpp"
#include "rlhf/dist/communicator.hpp"

#if defined(RLHF_WITH_NCCL) && RLHF_WITH_NCCL
#include "rlhf/dist/nccl.hpp"
#elif defined(RLHF_WITH_MPI) && RLHF_WITH_MPI
#include "rlhf/dist/mpi.hpp"
#endif

namespace rlhf::dist {

#if defined(RLHF_WITH_NCCL) && RLHF_WITH_NCCL
using default_communicator = nccl_communicator;
#elif defined(RLHF_WITH_MPI) && RLHF_WITH_MPI
using default_communicator = mpi_communicator;
#else
using default_communicator = single_process;
#endif
static_assert(communicator<default_communicator>);

/// This process's communicator of the default kind (made on first use: MPI starts here when the
/// process was launched by mpirun).
inline const any_communicator& world() {
  static const any_communicator w(default_communicator::world());
  return w;
}

}  // namespace rlhf::dist
