// SPDX-License-Identifier: MIT
// Must NOT compile: a view of host memory handed to a thrust kernel. Memory spaces are part of
// the view type (rlhf::host_space vs rlhf::thrust_space<System>) and never convert, so the
// mistake is a compile error rather than a device fault at run time. Copy with
// B::from_host into a B::buffer instead.
// EXPECT: (no matching|cannot convert|could not convert|no known conversion)
#include <vector>

#include "rlhf/backend/thrust.hpp"

int main() {
  using B = rlhf::backend::thrust_default;
  std::vector<float> host(8, 1.0f);
  const rlhf::view<float, rlhf::host_space> h = rlhf::host_view_of(host, rlhf::shape{2, 4});
  B::buffer<float> out(rlhf::shape{2, 4});
  B::gelu_forward(out.view(), h);  // error: host_space view where thrust_space<System> is required
  return 0;
}
