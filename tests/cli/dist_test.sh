#!/usr/bin/env bash
# The rlhf program under mpirun (an MPI build): `mpirun -np P rlhf sft|reward|dpo --batch-size b`
# writes the model that one process writes with --batch-size P·b, within 1e-5 relative (the sums'
# order differs), for P = 2 and 3 (uneven shards: 3 does not divide the records); so do ppo and
# grpo (P = 2); `generate` writes the records of one process; only rank 0 writes; a command that
# is not data-parallel is refused in one line; an error on one rank ends the job with exit 2
# instead of leaving the others waiting.
# Usage: dist_test.sh RLHF MPIEXEC
set -uo pipefail
rlhf=$1 mpiexec=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mpirun=("$mpiexec" --oversubscribe --bind-to none -x OMP_NUM_THREADS)
fails=0 passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

cat >"$work/cfg.json" <<'J'
{"vocab_size": 257, "n_positions": 64, "n_embd": 32, "n_layer": 2, "n_head": 2}
J
python3 - "$work" <<'P'
import json, random, sys
work = sys.argv[1]
rng = random.Random(11)
good, bad_ = ["great", "good", "lovely", "superb"], ["awful", "bad", "dull", "poor"]
prompts = ["The film was", "The book is", "Dinner was", "The show is"]
with open(f"{work}/sft.jsonl", "w") as f:
    for _ in range(29):
        f.write(json.dumps({"prompt": rng.choice(prompts), "completion": " " + rng.choice(good + bad_) + "."}) + "\n")
with open(f"{work}/prompts.jsonl", "w") as f:
    for i in range(7):
        f.write(json.dumps({"prompt": prompts[i % 4] + ("" if i < 4 else " really")}) + "\n")
with open(f"{work}/prefs.jsonl", "w") as f:
    for _ in range(23):
        f.write(json.dumps({"prompt": rng.choice(prompts), "chosen": " " + rng.choice(good) + ".",
                            "rejected": " " + rng.choice(bad_) + "."}) + "\n")
P
"$rlhf" init --config "$work/cfg.json" --out "$work/m0" --seed 3 2>/dev/null || { echo "FAIL: init" >&2; exit 1; }

# compare A B: the two model.safetensors hold the same tensors within 1e-5 relative (norm) and
# 1e-4 · max(1, |b|) element-wise (AdamW turns float noise of near-zero gradients into ~lr).
compare() {
  python3 - "$1/model.safetensors" "$2/model.safetensors" <<'P'
import array, json, math, struct, sys
def load(path):
    b = open(path, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); out = {}
    for k, v in h.items():
        if k == "__metadata__": continue
        s, e = v["data_offsets"]; a = array.array("f"); a.frombytes(b[8 + n + s:8 + n + e]); out[k] = a
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a.keys() == b.keys(), "different tensors"
num = den = 0.0; worst = 0.0
for k in a:
    for x, y in zip(a[k], b[k]):
        num += (x - y) ** 2; den += x * x + y * y
        worst = max(worst, abs(x - y) / (1e-4 * max(1.0, abs(y))))
rel = math.sqrt(num) / math.sqrt(den)
print(f"relative {rel:.2e}, worst element {worst:.2f} of its bound")
sys.exit(0 if rel < 1e-5 and worst <= 1.0 else 1)
P
}

for np in 2 3; do
  big=$((2 * np))
  common=(--steps 4 --lr 3e-3 --shuffle --seed 5 --threads 1)
  "$rlhf" sft --model "$work/m0" --data "$work/sft.jsonl" --out "$work/sft1-$np" --batch-size $big "${common[@]}" 2>"$work/err" \
    || bad "sft, one process: $(cat "$work/err")"
  "${mpirun[@]}" -np $np "$rlhf" sft --model "$work/m0" --data "$work/sft.jsonl" --out "$work/sftN-$np" --batch-size 2 \
    "${common[@]}" >"$work/out" 2>"$work/err" || bad "mpirun -np $np rlhf sft: $(cat "$work/err")"
  if out=$(compare "$work/sftN-$np" "$work/sft1-$np"); then ok; else bad "sft -np $np vs --batch-size $big: $out"; fi
  [[ $(grep -c "rlhf sft: .* steps" "$work/err") == 1 ]] && ok || bad "sft -np $np: the summary is not printed once: $(cat "$work/err")"

  "$rlhf" reward --init "$work/sft1-2" --data "$work/prefs.jsonl" --out "$work/rm1-$np" --batch-size $big "${common[@]}" \
    2>"$work/err" || bad "reward, one process: $(cat "$work/err")"
  "${mpirun[@]}" -np $np "$rlhf" reward --init "$work/sft1-2" --data "$work/prefs.jsonl" --out "$work/rmN-$np" --batch-size 2 \
    "${common[@]}" >"$work/out" 2>"$work/err" || bad "mpirun -np $np rlhf reward: $(cat "$work/err")"
  if out=$(compare "$work/rmN-$np" "$work/rm1-$np"); then ok; else bad "reward -np $np vs --batch-size $big: $out"; fi

  "$rlhf" dpo --policy "$work/sft1-2" --data "$work/prefs.jsonl" --out "$work/dpo1-$np" --batch-size $big "${common[@]}" \
    2>"$work/err" || bad "dpo, one process: $(cat "$work/err")"
  "${mpirun[@]}" -np $np "$rlhf" dpo --policy "$work/sft1-2" --data "$work/prefs.jsonl" --out "$work/dpoN-$np" --batch-size 2 \
    "${common[@]}" >"$work/out" 2>"$work/err" || bad "mpirun -np $np rlhf dpo: $(cat "$work/err")"
  if out=$(compare "$work/dpoN-$np" "$work/dpo1-$np"); then ok; else bad "dpo -np $np vs --batch-size $big: $out"; fi
done

# Online RL (rollouts sampled on each process, gathered): ppo and grpo with --batch-size 2 per
# process against one process with the doubled batch.
for method in ppo grpo; do
  online=(--policy "$work/sft1-2" --reward "$work/rm1-2" --prompts "$work/prompts.jsonl" --steps 2 --max-new-tokens 6
          --lr 3e-3 --seed 5 --threads 1 --samples 2)
  "$rlhf" $method "${online[@]}" --batch-size 4 --out "$work/$method-1" 2>"$work/err" || bad "$method, one process: $(cat "$work/err")"
  "${mpirun[@]}" -np 2 "$rlhf" $method "${online[@]}" --batch-size 2 --out "$work/$method-2" >"$work/out" 2>"$work/err" \
    || bad "mpirun -np 2 rlhf $method: $(cat "$work/err")"
  if out=$(compare "$work/$method-2" "$work/$method-1"); then ok; else bad "$method -np 2 vs --batch-size 4: $out"; fi
done

# generate: each process decodes a shard of the prompts from the prompts' own streams; rank 0
# writes every record in prompt order: the tokens of one process (log-probs to 1e-5).
"$rlhf" generate --model "$work/sft1-2" --prompts "$work/prompts.jsonl" --max-new-tokens 8 --seed 3 --batch-size 2 \
  --out "$work/g1.jsonl" 2>"$work/err" || bad "generate, one process: $(cat "$work/err")"
for np in 2 3; do
  "${mpirun[@]}" -np $np "$rlhf" generate --model "$work/sft1-2" --prompts "$work/prompts.jsonl" --max-new-tokens 8 --seed 3 \
    --batch-size 2 --out "$work/g$np.jsonl" >"$work/out" 2>"$work/err" || bad "mpirun -np $np rlhf generate: $(cat "$work/err")"
  python3 - "$work/g1.jsonl" "$work/g$np.jsonl" <<'P' && ok || bad "generate -np $np: records differ from one process"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]; b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 7, (len(a), len(b))
for x, y in zip(a, b):
    assert x["prompt"] == y["prompt"] and x["completion_ids"] == y["completion_ids"], (x, y)
    assert all(abs(p - q) <= 1e-5 for p, q in zip(x["completion_logprobs"], y["completion_logprobs"]))
P
done

# Not data-parallel: refused in one line by rank 0, exit 2, nothing written.
"${mpirun[@]}" -np 2 "$rlhf" score --model "$work/rm1-2" --data "$work/prefs.jsonl" --out "$work/s.jsonl" \
  >"$work/out" 2>"$work/err"
rc=$?
[[ $rc -ne 0 && ! -e $work/s.jsonl ]] && grep -q "data-parallel commands are sft, reward, dpo" "$work/err" && ok \
  || bad "score under mpirun: exit $rc: $(cat "$work/err")"
# Bad input: every rank fails alike; the job ends with the one-line message, no hang.
timeout 120 "${mpirun[@]}" -np 2 "$rlhf" sft --model "$work/m0" --data "$work/missing.jsonl" --out "$work/bad" \
  >"$work/out" 2>"$work/err"
rc=$?
[[ $rc -ne 0 && $rc -ne 124 && ! -e $work/bad ]] && grep -q "missing.jsonl" "$work/err" && ok \
  || bad "sft on a missing file under mpirun: exit $rc: $(cat "$work/err")"

echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
