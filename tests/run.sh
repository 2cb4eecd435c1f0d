#!/usr/bin/env bash
# The whole test suite, as CI runs it (README's second command). Four stages; on 2 cores they
# take about 30 minutes together (release alone ~12), so the last three build the subsets below:
#   release     every test binary (each backend-generic test on Eigen AND thrust-OMP), the rlhf
#               program's end-to-end test, compile-fail tests, the installed-package consumer;
#   sanitize    ASan + UBSan (-O1), Eigen backend: core io data objective sampling decoding model
#               (the parsers, the transformer and its KV cache; not the kernel-by-kernel suites);
#   thrust-omp  thrust-OMP as the *default* backend: the rlhf program and its end-to-end test
#               (the train suite's backend-generic cases already run on thrust-OMP in release);
#   fuzz        clang + libFuzzer (ASan + UBSan): one harness per reader (tests/fuzz), each run for
#               RLHF_FUZZ_SECONDS (30) from its seed corpus: no crash, no escaped non-rlhf
#               exception, every stated invariant (tokenizer round trip, ids in range, sizes);
#               RLHF_FUZZ_SECONDS=600 RLHF_TEST_STAGES=fuzz is the ten-minute campaign;
#   cuda        nvcc, sm_80 + sm_90, default backend thrust on CUDA: compiles the thrust test
#               binary, the thrust benchmark and the bandit oracle (every trainer — DPO, PPO, RLOO,
#               GRPO — instantiated on the CUDA backend); no GPU here: nothing runs. The rlhf
#               program's CUDA build (18 translation units, several minutes each under nvcc on 2
#               cores, measured ~7 min for the trainer-heavy dpo.cpp) is left to RLHF_FULL=1.
# RLHF_TEST_STAGES="release sanitize" (say) runs fewer stages; RLHF_FULL=1 builds every target
# of every stage and runs every test, the full `rlhf pipeline` run and its shape among them (pipeline.full).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${RLHF_JOBS:-$(nproc)}
stages=${RLHF_TEST_STAGES:-release sanitize fuzz thrust-omp cuda}
[[ " $stages " == *" fuzz "* ]] && rlhf_need_clang=1
source tests/deps.sh
full=${RLHF_FULL:-0}

declare -A targets=(
  [sanitize]="rlhf_test_core rlhf_test_io rlhf_test_data rlhf_test_objective rlhf_test_sampling rlhf_test_decoding rlhf_test_model"
  [thrust-omp]="rlhf_cli"
  [cuda]="rlhf_test_thrust rlhf_thrust_backend_bench example_bandit_closed_form rlhf_test_io"
)
declare -A tests=(
  [sanitize]="^(core|io|data|objective|sampling|decoding|model)$"
  [thrust-omp]="^cli$"
)

for stage in $stages; do
  echo "=== rlhf tests: $stage ===" >&2
  if [[ $stage == cuda && ! -x /usr/local/cuda/bin/nvcc ]]; then
    echo "nvcc not found: CUDA build skipped" >&2
    continue
  fi
  cmake --preset "$stage" ${RLHF_CMAKE_EXTRA:-} -DRLHF_FULL=$([[ $full == 1 ]] && echo ON || echo OFF) \
    -DRLHF_FUZZ_SECONDS="${RLHF_FUZZ_SECONDS:-30}" >/dev/null
  build=(cmake --build --preset "$stage" -j "$jobs")
  if [[ $full != 1 && -n ${targets[$stage]:-} ]]; then build+=(--target ${targets[$stage]}); fi
  "${build[@]}"
  [[ $stage == cuda ]] && continue  # compiled only: there is no GPU to run it on
  check=(ctest --preset "$stage" -j "$jobs")
  if [[ $full != 1 && -n ${tests[$stage]:-} ]]; then check+=(-R "${tests[$stage]}"); fi
  "${check[@]}"
done
