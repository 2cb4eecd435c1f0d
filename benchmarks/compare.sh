#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Our benchmarks and PyTorch's, back to back on the same shapes, in one script: one table of
# ratios (PyTorch time / ours: > 1 means ours is faster) with the targets of docs/performance.md.
#
#   benchmarks/compare.sh [BUILD_DIR]          # default build/release (needs RLHF_BUILD_BENCHMARKS and the rlhf program)
#   RLHF_COMPARE_THREADS="1"   only 1 thread (default "1 2")
#   RLHF_COMPARE_SMALL=0       skip GPT-2 small (its cases take ~10 minutes of the run)
#   RLHF_COMPARE_ROUNDS=3      rounds of the tiny-GPT cases (GPT-2 small: one round); the table
#                              gives the median of each side and the range of per-round ratios
#
# Every case runs in its own process on each side, so each reports its own peak resident memory.
# PyTorch is Debian's python3-torch run by /usr/bin/python3 (apt-get install -y python3-torch
# libopenblas0-openmp); Debian's torch does its matmuls through libblas.so.3, which this script
# points at the OpenMP build of OpenBLAS (LD_LIBRARY_PATH), so that torch.set_num_threads sets
# its BLAS threads too (1 thread: one OpenBLAS thread). Ours link OpenBLAS's pthread build with
# one BLAS thread per call (backend/eigen/gemm.hpp). Before timing, the script checks that the two
# compute the same function: it writes a model with `rlhf init`, scores records with
# `rlhf logprobs`, and loads the same model.safetensors into the PyTorch model.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build/release}
bench=$build/benchmarks
threads=${RLHF_COMPARE_THREADS:-1 2}
small=${RLHF_COMPARE_SMALL:-1}
rounds=${RLHF_COMPARE_ROUNDS:-3}
py=/usr/bin/python3
omp_blas=/usr/lib/x86_64-linux-gnu/openblas-openmp
for b in rlhf_transformer_bench rlhf_reward_bench rlhf_dpo_bench rlhf_sampling_bench; do
  [[ -x $bench/$b ]] || { echo "compare.sh: $bench/$b is missing; build it: cmake --build $build --target $b" >&2; exit 1; }
done
rlhf=$build/examples/rlhf
[[ -x $rlhf ]] || { echo "compare.sh: $rlhf is missing; build it: cmake --build $build --target rlhf" >&2; exit 1; }
$py -c 'import torch' 2>/dev/null || { echo "compare.sh: no torch for $py; apt-get install -y python3-torch" >&2; exit 1; }
[[ -e $omp_blas/libblas.so.3 ]] || { echo "compare.sh: $omp_blas missing; apt-get install -y libopenblas0-openmp" >&2; exit 1; }
torch_py() { LD_LIBRARY_PATH=$omp_blas $py "$here/pytorch_reference.py" "$@"; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, flags: $(grep -o -w -E 'avx2|fma|avx512f' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. the same function: rlhf logprobs vs the PyTorch model on the same safetensors ----
cat > "$out/tiny.json" <<'EOF'
{"vocab_size": 256, "n_positions": 64, "n_embd": 128, "n_layer": 4, "n_head": 4}
EOF
"$rlhf" init --config "$out/tiny.json" --head lm --tokenizer none --seed 7 --out "$out/model" > /dev/null
$py - "$out/ids.jsonl" <<'EOF'
import json, random, sys
random.seed(3)
with open(sys.argv[1], "w") as f:
    for n in range(8):
        p = [random.randrange(256) for _ in range(random.randint(1, 20))]
        c = [random.randrange(256) for _ in range(random.randint(1, 40))]
        f.write(json.dumps({"prompt_ids": p, "completion_ids": c}) + "\n")
EOF
"$rlhf" logprobs --model "$out/model" --data "$out/ids.jsonl" --out "$out/ours.jsonl" > /dev/null
torch_py --check "$out/model" "$out/ids.jsonl" "$out/ours.jsonl" --tol 1e-4
torch_py --threads 1 --steps 1 --case score_tiny --reps 1 > /dev/null  # warm the page cache
LD_LIBRARY_PATH=$omp_blas $py -c "
import sys; sys.path.insert(0, '$here'); import torch, pytorch_reference as r; r.blas_report(torch)"

# ---- 2. the cases, each in its own process, ours then PyTorch's ----
# case | our binary | our benchmark (THREADS replaced) | PyTorch repetitions
tiny_cases=(
  "train_tiny|rlhf_transformer_bench|BM_transformer_train_step/0/THREADS/|10"
  "score_tiny|rlhf_transformer_bench|BM_transformer_pass/0/1/THREADS/|20"
  "decode1_tiny|rlhf_transformer_bench|BM_transformer_decode/1/THREADS/0/|5"
  "decode16_tiny|rlhf_transformer_bench|BM_transformer_decode/16/THREADS/0/|5"
  "reward|rlhf_reward_bench|BM_reward_train_step/0/THREADS/|10"
  "dpo_ref1|rlhf_dpo_bench|BM_dpo_step/ref:1/threads:THREADS/|10"
  "dpo_ref0|rlhf_dpo_bench|BM_dpo_step/ref:0/threads:THREADS/|10"
)
small_cases=(
  "train_small|rlhf_transformer_bench|BM_transformer_train_step/1/THREADS/|3"
  "score_small|rlhf_transformer_bench|BM_transformer_pass/1/1/THREADS/|3"
  "score_small_1x32|rlhf_transformer_bench|BM_transformer_gpt2_small_forward/THREADS/1/|5"
  "decode1_small|rlhf_transformer_bench|BM_transformer_decode/1/THREADS/1/|2"
  "decode16_small|rlhf_transformer_bench|BM_transformer_decode/16/THREADS/1/|2"
)
run_case() {  # run_case ROUND THREADS "name|binary|filter|reps": ours, then PyTorch's
  local round=$1 t=$2 name binary filter reps
  IFS='|' read -r name binary filter reps <<< "$3"
  filter=${filter//THREADS/$t}
  echo "  round $round: $name, $t thread(s)" >&2
  "$bench/$binary" --benchmark_filter="^${filter}" --benchmark_min_time=2 \
    --benchmark_out="$out/ours-$name-$t-$round.json" --benchmark_out_format=json > /dev/null 2> "$out/stderr" ||
    { cat "$out/stderr" >&2; exit 1; }
  torch_py --case "$name" --threads "$t" --reps "$reps" > "$out/torch-$name-$t-$round.json"
}
for ((r = 1; r <= rounds; ++r)); do
  for t in $threads; do
    for c in "${tiny_cases[@]}"; do run_case "$r" "$t" "$c"; done
  done
done
if [[ $small == 1 ]]; then
  for t in $threads; do
    for c in "${small_cases[@]}"; do run_case 1 "$t" "$c"; done
  done
fi
# Our own same-run references: the bandwidth limit, positions, top-p.
"$bench/rlhf_transformer_bench" --benchmark_filter='^BM_stream_weights/[01]/|^BM_transformer_decode_at/' --benchmark_min_time=1 \
  --benchmark_out="$out/ours-limits.json" --benchmark_out_format=json > /dev/null 2> "$out/stderr"
"$bench/rlhf_sampling_bench" --benchmark_filter='^BM_sampling_top_p/ref:[01]/zipf:1/' --benchmark_min_time=0.5 \
  --benchmark_out="$out/ours-top_p.json" --benchmark_out_format=json > /dev/null 2> "$out/stderr"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 3. the table ----
$py - "$out" "$threads" <<'EOF'
import glob, json, os, sys
out, threads = sys.argv[1], sys.argv[2].split()

def ours(path):
    runs = [b for b in json.load(open(path))["benchmarks"] if b.get("run_type", "iteration") == "iteration"]
    return {b["name"]: b for b in runs}

targets = {"train_tiny": 1.4, "train_small": 1.2, "score_tiny": 1.5, "score_small": 1.5, "score_small_1x32": 1.5}
what = {
    "train_tiny": "train step, tiny 16x64", "train_small": "train step, GPT-2 small 4x256",
    "score_tiny": "forward (no grad), tiny 16x64", "score_small": "forward (no grad), GPT-2 small 4x256",
    "score_small_1x32": "forward (no grad), GPT-2 small 1x32",
    "decode1_tiny": "decode 64 tokens, batch 1, tiny", "decode16_tiny": "decode 64 tokens, batch 16, tiny",
    "decode1_small": "decode 16 tokens, batch 1, GPT-2 small", "decode16_small": "decode 16 tokens, batch 16, GPT-2 small",
    "reward": "reward step, 16 pairs x 64", "dpo_ref1": "DPO step, reference on the fly", "dpo_ref0": "DPO step, precomputed reference",
}
def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else 0.5 * (xs[len(xs) // 2 - 1] + xs[len(xs) // 2])

print(f"\n{'work':40} {'thr':>3} {'ours ms':>9} {'torch ms':>9} {'ratio':>6} {'(range)':>13} {'target':>7}      {'ours MB':>7} {'torch MB':>8}")
rows = {}
for t in threads:
    for name in what:
        runs = sorted(glob.glob(f"{out}/ours-{name}-{t}-*.json"))
        if not runs:
            continue
        mine, theirs, ratios, tok, rss, trss, base = [], [], [], [], [], [], 0
        for o in runs:
            (b,) = ours(o).values()
            ms = b["real_time"] / {"ms": 1, "us": 1e3, "ns": 1e6, "s": 1e-3}[b["time_unit"]]
            p = json.loads(open(o.replace("/ours-", "/torch-")).read().splitlines()[-1])
            mine.append(ms); theirs.append(p["ms"]); ratios.append(p["ms"] / ms)
            tok.append(b.get("tokens/s", 0)); rss.append(b.get("peak_RSS_MB", float("nan"))); trss.append(p["peak_rss_mb"])
            base = p["torch_rss_mb"]
        ratio = median(ratios)
        rows[(name, t)] = (median(mine), median(theirs), median(tok))
        tgt = targets.get(name)
        mark = "" if tgt is None else (" ok" if ratio >= tgt else " MISS")
        rng = f"({min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else ""
        print(f"{what[name]:40} {t:>3} {median(mine):9.1f} {median(theirs):9.1f} {ratio:5.2f}x {rng:>13} "
              f"{('>= %.1fx' % tgt) if tgt else '':>7}{mark:5} {max(rss):7.0f} {max(trss):8.0f}")
print(f"(ratio = PyTorch ms / ours, median of {len(ratios)} round(s) for the last row group; MB = the process's peak "
      f"resident memory; PyTorch's includes ~{base:.0f} MB for the interpreter and torch itself)")

lim = ours(f"{out}/ours-limits.json")
print("\nour own limits, same run")
for shape, name in (("0", "tiny"), ("1", "GPT-2 small")):
    s = lim.get(f"BM_stream_weights/{shape}/real_time")
    key = ("decode1_tiny" if shape == "0" else "decode1_small", threads[0])
    if s and key in rows and rows[key][2]:
        limit = s["tokens/s"]
        print(f"  batch-1 decoding, {name}: {rows[key][2]:.0f} tokens/s = {rows[key][2] / limit:.2f} of the "
              f"{limit:.0f} tokens/s a {s['weight_MB']:.1f} MB weight read at {s['GB/s']:.1f} GB/s allows (target >= 0.60)")
    b1, b16 = rows.get(("decode1_tiny" if shape == "0" else "decode1_small", threads[0])), rows.get(("decode16_tiny" if shape == "0" else "decode16_small", threads[0]))
    if b1 and b16 and b1[2] and b16[2]:
        print(f"  decoding, {name}: batch 16 {b16[2]:.0f} tokens/s = {b16[2] / b1[2]:.2f}x batch 1 (target >= 3)")
a30, a250 = lim.get("BM_transformer_decode_at/30/real_time"), lim.get("BM_transformer_decode_at/250/real_time")
if a30 and a250:
    print(f"  one decode step at position 250 = {a250['real_time'] / a30['real_time']:.2f}x the step at 30 (target <= 1.40)")
tp = ours(f"{out}/ours-top_p.json")
for n, b in sorted(tp.items()):
    if n.startswith("BM_sampling_top_p/ref:0/"):
        ref = tp.get(n.replace("ref:0", "ref:1"))
        if ref:
            print(f"  top-p, V 50257, Zipf logits, {n.split('/')[3]}: {ref['real_time'] / b['real_time']:.2f}x a full sort (target >= 3)")
EOF
