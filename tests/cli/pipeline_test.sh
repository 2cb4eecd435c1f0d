#!/usr/bin/env bash
# The main job end to end on the fetched task, then its table (pipeline_check.py): every method
# present with finite numbers and call counts consistent with each method's definition.
#   pipeline_test.sh RLHF CACHE          `rlhf pipeline --quick` (CI: pipeline.quick; with
#                                        RLHF_LAUNCH="mpirun -np 2 ...", dist.pipeline)
#   pipeline_test.sh RLHF CACHE --full   the full run, and the shape of ALGORITHMS.md §7 claim by
#                                        claim against what docs/pipeline.md records (RLHF_FULL)
set -uo pipefail
rlhf=$1 cache=$2 full=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
size=(--quick --prompts 100) want=100
[[ $full == --full ]] && size=() want=  # every held-out prompt (250)
# RLHF_LAUNCH: a launcher to start it with (dist.pipeline: "mpirun -np 2 ..." in an MPI build).
launch=()
[[ -n ${RLHF_LAUNCH:-} ]] && read -r -a launch <<<"$RLHF_LAUNCH"
"${launch[@]}" "$rlhf" pipeline "${size[@]}" --out "$work/run" --cache "$cache" >"$work/table.txt" 2>"$work/log.txt" ||
  { echo "FAIL: rlhf pipeline ${size[*]} exited $?:"; tail -20 "$work/log.txt"; exit 1; }
cat "$work/table.txt"
python3 "$here/pipeline_check.py" "$work/run" $want $full
