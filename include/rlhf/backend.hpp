// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Umbrella for the backends: the concept, the Eigen backend, the thrust backend when it is
/// enabled (RLHF_WITH_THRUST, set by linking rlhf::thrust), and `default_backend`.
#include "rlhf/backend/backend.hpp"
#include "rlhf/backend/eigen.hpp"

#if defined(RLHF_WITH_THRUST) || RLHF_BACKEND == RLHF_BACKEND_THRUST
#include "rlhf/backend/thrust.hpp"
#endif

namespace rlhf::backend {

#if RLHF_BACKEND == RLHF_BACKEND_THRUST
/// The backend algorithms use when the user names none (RLHF_BACKEND).
using default_backend = thrust_default;
#else
/// The backend algorithms use when the user names none (RLHF_BACKEND).
using default_backend = eigen;
#endif
static_assert(rlhf::compute_backend<default_backend>);

}  // namespace rlhf::backend
