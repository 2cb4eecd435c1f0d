// SPDX-License-Identifier: MIT
#pragma once
/// The type list every backend-generic test runs over (TEMPLATE_LIST_TEST_CASE).
#include <tuple>

#include "rlhf/backend.hpp"

namespace rlhf::test {

#if defined(RLHF_TEST_THRUST) && RLHF_TEST_THRUST && defined(__CUDACC__)
// nvcc (cuda preset): the CUDA system joins the list (compiled here, run on a GPU machine).
using backends = std::tuple<rlhf::backend::eigen, rlhf::backend::thrust_host, rlhf::backend::thrust_cuda>;
#elif defined(RLHF_TEST_THRUST) && RLHF_TEST_THRUST
using backends = std::tuple<rlhf::backend::eigen, rlhf::backend::thrust_host>;
#else
using backends = std::tuple<rlhf::backend::eigen>;
#endif

}  // namespace rlhf::test
