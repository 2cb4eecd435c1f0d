#!/usr/bin/env bash
# The whole test suite, as CI runs it (README's second command):
#   1. release preset: every test binary, each backend-generic test on Eigen AND thrust-OMP,
#      compile-fail tests, the installed-package consumer;
#   2. sanitize preset (ASan + UBSan): the suite on the Eigen backend;
#   3. thrust-omp preset: the suite with thrust-OMP as the default backend (the rlhf program too);
#   4. cuda preset: the CUDA build compiled with nvcc (no GPU here, nothing runs).
# Set RLHF_TEST_STAGES="release sanitize" (say) to run fewer stages.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/deps.sh
jobs=${RLHF_JOBS:-$(nproc)}
stages=${RLHF_TEST_STAGES:-release sanitize thrust-omp cuda}
for stage in $stages; do
  echo "=== rlhf tests: $stage ===" >&2
  if [[ $stage == cuda ]]; then
    if [[ -x /usr/local/cuda/bin/nvcc ]]; then
      cmake --preset cuda ${RLHF_CMAKE_EXTRA:-} >/dev/null
      cmake --build --preset cuda -j "$jobs"
    else
      echo "nvcc not found: CUDA build skipped" >&2
    fi
    continue
  fi
  cmake --preset "$stage" ${RLHF_CMAKE_EXTRA:-} >/dev/null
  cmake --build --preset "$stage" -j "$jobs"
  ctest --preset "$stage" -j "$jobs"
done
