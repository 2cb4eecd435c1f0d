#!/usr/bin/env bash
# The main job (README's first command): builds the rlhf program and runs the recipe's first
# stages end to end on the built-in review task: data -> init -> SFT (held-out loss before and
# after) -> sampling with a top-k / nucleus chain -> per-token log-probs.
# Output goes to ${RLHF_OUT:-rlhf-run}/. RLHF_QUICK=1 makes it a one-minute smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/deps.sh
cmake --preset release ${RLHF_CMAKE_EXTRA:-} >/dev/null  # builds only the program below
cmake --build --preset release --target rlhf_cli -j "$(nproc)"
rlhf=$PWD/build/release/examples/rlhf
out=${RLHF_OUT:-rlhf-run}
if [[ ${RLHF_QUICK:-0} == 1 ]]; then records=200 epochs=1 prompts=8; else records=2000 epochs=3 prompts=32; fi
mkdir -p "$out"
set -x
"$rlhf" data --out "$out/data" --records $records --prompts $prompts
"$rlhf" init --out "$out/init" --seed 1
"$rlhf" sft --model "$out/init" --data "$out/data/sft.jsonl" --eval-data "$out/data/sft_eval.jsonl" \
  --out "$out/sft" --epochs $epochs --batch-size 16 --lr 1e-3 --warmup 10 --json --log-every 20
"$rlhf" generate --model "$out/sft" --prompts "$out/data/prompts.jsonl" --out "$out/samples.jsonl" \
  --sampler "temperature=0.8,top_k=40,top_p=0.95" --max-new-tokens 64 --stop "." --seed 1
"$rlhf" logprobs --model "$out/sft" --data "$out/data/sft_eval.jsonl" --out "$out/logprobs.jsonl"
set +x
echo "--- samples (prompt -> completion) ---"
python3 -c '
import json,sys
for l in open(sys.argv[1]):
    r=json.loads(l); print(r["prompt"], "->", r["completion"])' "$out/samples.jsonl" 2>/dev/null | head -10 || head -5 "$out/samples.jsonl"
