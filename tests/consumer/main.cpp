// A user's program: one include, one target.
#include <rlhf/rlhf.hpp>

#include <cstdio>

int main() {
  const double x = rlhf::math::log_sigmoid(1e4);
  std::printf("rlhf %d.%d: log_sigmoid(1e4) = %g\n", RLHF_VERSION_MAJOR, RLHF_VERSION_MINOR, x);
  return x == 0.0 ? 0 : 1;
}
