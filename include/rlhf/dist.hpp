// SPDX-License-Identifier: MIT
#pragma once
/// @file Umbrella for dist/: the communicator concept and its single-process model, the
/// type-erased any_communicator, collectives on backend buffers, and the build's world()
/// (MPI with RLHF_WITH_MPI, NCCL with RLHF_WITH_NCCL).
#include "rlhf/dist/any_communicator.hpp"
#include "rlhf/dist/collectives.hpp"
#include "rlhf/dist/communicator.hpp"
#include "rlhf/dist/world.hpp"
