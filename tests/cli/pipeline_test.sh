#!/usr/bin/env bash
# The main job in CI: `rlhf pipeline --quick` end to end on the fetched task, then the table:
# every method present with finite numbers, and call counts consistent with each method's
# definition (the ordering of the methods is a statistical claim, checked on the full run only).
set -uo pipefail
rlhf=$1 cache=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$rlhf" pipeline --quick --out "$work/run" --cache "$cache" --prompts 100 >"$work/table.txt" 2>"$work/log.txt" ||
  { echo "FAIL: rlhf pipeline --quick exited $?:"; tail -20 "$work/log.txt"; exit 1; }
cat "$work/table.txt"
python3 - "$work/run" <<'P' || exit 1
import json, math, os, sys
run = sys.argv[1]
rows = {r["method"]: r for r in map(json.loads, open(os.path.join(run, "results.jsonl")))}
want = ["ref", "bon", "args", "pargs", "cd", "cd-block", "farma", "cards", "dpo", "ppo"]
assert sorted(rows) == sorted(want), sorted(rows)
for m, r in rows.items():
    assert r["prompts"] == 100, (m, r)
    for k in ("gold_reward_mean", "gold_reward_se", "learned_reward_mean", "distinct_2", "ref_nll", "lm_calls", "rm_calls", "seconds"):
        assert isinstance(r[k], (int, float)) and math.isfinite(r[k]), (m, k, r)
    assert -1 <= r["gold_reward_mean"] <= 1 and r["gold_reward_se"] > 0, (m, r)
    assert (r["kl_to_ref"] is None) == (m == "cards"), (m, r)
    tokens = r["tokens"]
    if m in ("ref", "dpo", "ppo"): assert r["rm_calls"] == 0 and abs(r["lm_calls"] - tokens) < 1e-9, (m, r)
    if m in ("args", "pargs", "cd"): assert abs(r["rm_calls"] - 10 * r["lm_calls"]) < 1e-6 and abs(r["lm_calls"] - tokens) < 1e-9, (m, r)
    if m == "farma": assert abs(r["rm_calls"] - r["lm_calls"]) < 1e-9, r
    if m == "bon": assert r["rm_calls"] == 4 and r["lm_calls"] >= tokens, r
    if m == "cd-block":  # K = 4 value calls per block: the total over the prompts is a multiple of 4
        total = r["rm_calls"] * r["prompts"]; assert abs(total / 4 - round(total / 4)) < 1e-6 and r["lm_calls"] >= tokens, r
    if m == "cards": assert r["rm_calls"] >= 2 and r["lm_calls"] >= tokens, r
assert abs(rows["ref"]["kl_to_ref"]) < 1e-9, rows["ref"]
for f in ("results.csv", "gold_reward.png", "reward_vs_time.png", "reward_vs_kl.png"):
    assert os.path.getsize(os.path.join(run, f)) > 0, f
print("pipeline --quick: 10 methods, finite, calls consistent")
P
