#!/usr/bin/env bash
# The whole test suite, as CI runs it (README's second command). Four stages (six with
# RLHF_FULL=1; the README gives their measured times). CI's budget is 45 minutes on 2 cores, so
# each target is built once: the unit suites under the sanitizers, the rest optimised.
#   release     -O3 -march=native, Open MPI: the rlhf program, the examples and the task suite;
#               runs everything but the unit suites — the task suite (the VADER port and GPT-2's
#               own tokenizer files, on fetched data), the rlhf program end to end alone and under
#               mpirun (dist.cli, dist.pipeline), pipeline --quick, the examples, the compile-fail
#               checks, the installed-package consumer, the docs' snippets;
#   sanitize    clang, ASan + UBSan (-O1), Open MPI: EVERY unit suite — core io data objective
#               sampling decoding model train backend thrust dist, each backend-generic case on
#               Eigen AND thrust-OMP, the kernels included — and dist under mpirun -np 2 and 3;
#   fuzz        clang + libFuzzer (ASan + UBSan): one harness per reader (tests/fuzz), each run for
#               RLHF_FUZZ_SECONDS (30) from its seed corpus: no crash, no escaped non-rlhf
#               exception, every stated invariant (tokenizer round trip, ids in range, sizes);
#               RLHF_FUZZ_SECONDS=600 RLHF_TEST_STAGES=fuzz is the ten-minute campaign;
#   cuda        nvcc, sm_80 + sm_90, default backend thrust on CUDA: nvcc compiles the sources that
#               reach include/rlhf/backend (CMakeLists.txt decides per source), the host compiler
#               the rest. Builds the thrust test binary, the thrust benchmark, the bandit oracle
#               (every trainer — DPO, PPO, RLOO, GRPO — on the CUDA backend) and the io suite
#               (host-compiled under this preset); no GPU here: nothing runs. Every other target
#               (the rlhf program, the other suites: ~60 nvcc translation units, 1.5–12 minutes
#               each on 2 cores) is left to RLHF_FULL=1.
# With RLHF_FULL=1 every stage builds every target and runs every test (release: the unit suites
# optimised too, the benchmarks, the full `rlhf pipeline` run with the seed's shape checked claim
# by claim, pipeline.full), plus
#   thrust-omp  thrust-OMP as the *default* backend: the rlhf program and its end-to-end test;
#   tsan        clang ThreadSanitizer with LLVM OpenMP's Archer tool: the multithreaded suites
#               (train, decoding, sampling, model, backend, thrust on 2 OpenMP threads; io, whose
#               GPT-2 tokenizer cache is shared by 4 std::threads); the first report fails
#               the suite (~8 minutes to build here, ~80 s to run at -j2).
# RLHF_TEST_STAGES="release sanitize" (say) picks stages.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${RLHF_JOBS:-$(nproc)}
full=${RLHF_FULL:-0}
default_stages="release sanitize fuzz cuda"
[[ $full == 1 ]] && default_stages+=" thrust-omp tsan"
stages=${RLHF_TEST_STAGES:-$default_stages}
[[ " $stages " == *" fuzz "* || " $stages " == *" tsan "* || " $stages " == *" sanitize "* ]] && rlhf_need_clang=1
source tests/deps.sh

declare -A targets=(
  [release]="rlhf_examples rlhf_test_task"
  [sanitize]="rlhf_test_core rlhf_test_io rlhf_test_data rlhf_test_objective rlhf_test_sampling rlhf_test_decoding rlhf_test_model rlhf_test_train rlhf_test_backend rlhf_test_thrust rlhf_test_dist"
  [tsan]="rlhf_test_train rlhf_test_decoding rlhf_test_sampling rlhf_test_model rlhf_test_backend rlhf_test_thrust rlhf_test_io"
  [thrust-omp]="rlhf_cli"
  [cuda]="rlhf_test_thrust rlhf_thrust_backend_bench example_bandit_closed_form rlhf_test_io"
)
# Tests a stage leaves to another: release leaves the unit suites to sanitize.
declare -A exclude=(
  [release]="^(core|io|data|objective|sampling|decoding|model|train|backend|thrust|dist|dist[.]np[23])$"
)
declare -A tests=(
  [sanitize]="^(core|io|data|objective|sampling|decoding|model|train|backend|thrust|dist|dist[.]np[23])$"
  [tsan]="^(train|decoding|sampling|model|backend|thrust|io)$"
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
  # tsan always stays on the suites that run threads (OpenMP regions; io's tokenizer shared by 4 threads).
  narrow=$([[ $full != 1 || $stage == tsan ]] && echo 1 || echo 0)
  if [[ $narrow == 1 && -n ${targets[$stage]:-} ]]; then build+=(--target ${targets[$stage]}); fi
  "${build[@]}"
  [[ $stage == cuda ]] && continue  # compiled only: there is no GPU to run it on
  check=(ctest --preset "$stage" -j "$jobs")
  if [[ $narrow == 1 && -n ${tests[$stage]:-} ]]; then check+=(-R "${tests[$stage]}"); fi
  if [[ $full != 1 && -n ${exclude[$stage]:-} ]]; then check+=(-E "${exclude[$stage]}"); fi
  "${check[@]}"
done
