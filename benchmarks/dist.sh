#!/usr/bin/env bash
# Data-parallel scaling on this machine: rlhf_dist_bench under `mpirun -np P` (default 2), one
# thread per process; prints Google Benchmark's table (rank 0) and the ratios of the same run:
# the SFT step of P processes against rank 0 alone with the whole batch, and the all-reduce rate.
# Usage: benchmarks/dist.sh [BUILD_DIR (build/release)] [P (2)]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release} np=${2:-2}
bench=$build/benchmarks/rlhf_dist_bench
[[ -x $bench ]] || { echo "build $bench first (cmake --build --preset release --target rlhf_dist_bench)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mpirun --oversubscribe --bind-to none -x OMP_NUM_THREADS -np "$np" "$bench" --benchmark_counters_tabular=true
