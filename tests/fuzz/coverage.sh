#!/usr/bin/env bash
# Line and function coverage of the library code each fuzz harness reaches with a corpus.
# Builds the harnesses with clang's source-based coverage (build/fuzz-coverage: RLHF_FUZZ_COVERAGE,
# no sanitizers), runs each once over every input of its corpora (libFuzzer -runs=0) and prints,
# per harness, llvm-cov's totals over include/rlhf (the code compiled into that harness); each
# harness's per-file report is left in build/fuzz-coverage/profiles/NAME/report.txt.
# Usage: tests/fuzz/coverage.sh [CORPUS_ROOT]   (default: build/fuzz/tests/fuzz/corpus, the working
# corpora the fuzz stage and the campaign grow; the checked-in seeds are always added).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
work=${1:-$root/build/fuzz/tests/fuzz/corpus}
build=$root/build/fuzz-coverage
cmake --preset fuzz -B "$build" -DRLHF_FUZZ_COVERAGE=ON >/dev/null
cmake --build "$build" -j "${RLHF_JOBS:-$(nproc)}" >/dev/null
profdata=$(command -v llvm-profdata || command -v llvm-profdata-14)
cov=$(command -v llvm-cov || command -v llvm-cov-14)
# "lines covered" counts every line of include/rlhf compiled into the harness (writers and helpers
# the harness never calls included); "in reached files" only the files it executes at least one
# line of (the readers under test, mostly).
printf '%-16s %8s %22s %22s %22s\n' harness inputs "lines covered" "in reached files" "functions covered"
for bin in "$build"/tests/fuzz/rlhf_fuzz_*; do
  name=${bin##*/rlhf_fuzz_}
  dirs=("$root/tests/fuzz/corpus/$name")
  [[ -d $work/$name ]] && dirs+=("$work/$name")
  inputs=$(find -L "${dirs[@]}" -type f | wc -l)
  out=$build/profiles/$name
  rm -rf "$out" && mkdir -p "$out"
  LLVM_PROFILE_FILE="$out/%p.profraw" "$bin" -runs=0 -timeout=10 -rss_limit_mb=2048 -max_len=65536 "${dirs[@]}" \
    >"$out/run.log" 2>&1
  "$profdata" merge -sparse "$out"/*.profraw -o "$out/merged.profdata"
  # TOTAL row: regions (3 cols + %), functions (3 + %), lines (3 + %), branches (3 + %) in LLVM 14.
  "$cov" report "$bin" -instr-profile="$out/merged.profdata" "$root/include/rlhf" >"$out/report.txt"
  total=$(awk '/^TOTAL/' "$out/report.txt")
  read -r _ _ _ _ f_all f_miss f_pct l_all l_miss l_pct _ <<<"$total"
  # Per-file rows end with lines, missed lines, cover %, then branches, missed, cover %.
  reached=$(awk 'NF >= 13 && $1 ~ /\.hpp$/ && $(NF-4) < $(NF-5) { a += $(NF-5); m += $(NF-4) }
                 END { printf "%d/%d (%.2f%%)", a - m, a, a ? 100 * (a - m) / a : 0 }' "$out/report.txt")
  printf '%-16s %8s %22s %22s %22s\n' "$name" "$inputs" "$((l_all - l_miss))/$l_all ($l_pct)" "$reached" \
    "$((f_all - f_miss))/$f_all ($f_pct)"
done
