#!/usr/bin/env bash
# benches/device.sh: wgrad's benchmarks, Burn's peer and the GPU tests on a machine with a real GPU that has
# no Rust toolchain and no network (the `device` machines of this workplace: an H200 with its driver).
#
#   benches/device.sh prepare   # here: build the binaries into .device/, fetch the Vulkan loader into .gl/
#   benches/device.sh run       # there, in the repo root, with .device and .gl carried: runs everything,
#                               # the log in $OUT/device.log (./device.log without $OUT)
#
# `run` takes about 6 minutes on an H200 (each part has its own timeout; the total stays under 8):
# adapter facts, W1-W4 + launch overhead + memory (benches/workloads.rs, W1 up to 4096 in f32 and f16),
# the attention benchmark, Burn's wgpu backend on the same workloads (../shared/peers/burn, built once
# here; PEER=0 skips it), W2 and W3 again with the autotuner on (its decisions in $OUT/autotune.tsv), then
# the GPU tests: the op table's GPU trials and wgrad-wgpu's tests.
# With the device tool: run(command="benches/device.sh run", carry=[".device", ".gl"], timeout_s=540).
set -euo pipefail
cd "$(dirname "$0")/.."

# The paths of the executables a `cargo ... --no-run` printed.
executables() { sed -n 's/^ *Executable .*(\(.*\))$/\1/p'; }

# Copies each executable to .device/<name without the hash>.
collect() {
  while read -r f; do
    name=$(basename "$f" | sed 's/-[0-9a-f]\{16\}$//')
    cp "$f" ".device/$name"
  done
}

prepare() {
  mkdir -p .device .gl
  for d in /.device/ /.gl/; do
    grep -qx "$d" .git/info/exclude 2>/dev/null || echo "$d" >>.git/info/exclude
  done
  cargo bench --no-run --bench workloads --bench attention --bench matmul_lab 2>&1 | tee /dev/stderr |
    executables | collect
  cargo test --release --no-run -p wgrad-wgpu --tests 2>&1 | tee /dev/stderr | executables | collect
  cargo test --release --no-run --test ops --test edge_values --test long_axes --test memory 2>&1 |
    tee /dev/stderr | executables | collect
  if [ "${PEER:-1}" != 0 ]; then
    # Burn 0.22's wgpu backend (about 17 minutes on 2 cores the first time; the binary is self-contained)
    if [ ! -x /tmp/peer-burn/target/release/peer-burn ]; then
      rm -rf /tmp/peer-burn && cp -r ../shared/peers/burn /tmp/peer-burn
      (cd /tmp/peer-burn && cargo build --release)
    fi
    cp /tmp/peer-burn/target/release/peer-burn .device/
  fi
  strip .device/* 2>/dev/null || true
  # The Vulkan loader (the device image has the NVIDIA driver and its ICD, not libvulkan)
  mkdir -p /tmp/amd64/partial
  local o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update -qq
  # shellcheck disable=SC2086
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
  du -sh .device .gl
  echo "ready: carry .device and .gl (64 MiB at most with the repo)"
}

# Runs "$@" with a time limit, saying so when it is hit, and goes on.
part() {
  local limit=$1
  shift
  echo
  echo "== $* (limit ${limit}s)"
  timeout "$limit" "$@" || echo "== exit $? from $*"
}

run() {
  local out=${OUT:-.}
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  if [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd; fi
  # test binaries read tests/pytorch/*.json through the path they were built at
  if [ ! -e /work/main/Cargo.toml ]; then mkdir -p /work && ln -sfn "$PWD" /work/main; fi
  export WGRAD_BACKEND=${WGRAD_BACKEND:-vulkan} CI=true RUST_BACKTRACE=1
  {
    date -u
    git log --oneline -1 2>/dev/null || true
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
    part 240 .device/workloads
    part 60 .device/attention
    if [ -x .device/peer-burn ]; then
      for w in matmul mlp cnn; do part 60 .device/peer-burn wgpu "$w"; done
    fi
    # the autotuner's choices on this card (its timings land in $OUT/autotune.tsv)
    WGRAD_AUTOTUNE=1 WGRAD_AUTOTUNE_CACHE="$out/autotune.tsv" WGRAD_BENCH_QUICK=1 \
      part 90 .device/workloads w2 w3
    part 120 .device/ops gpu --test-threads 4
    for t in .device/naga_validate .device/backend .device/device_errors .device/wgrad_wgpu \
      .device/edge_values .device/long_axes .device/memory; do
      if [ -x "$t" ]; then part 60 "$t"; fi
    done
  } 2>&1 | tee "$out/device.log"
}

case "${1:-}" in
prepare) prepare ;;
run) run ;;
*)
  echo "usage: benches/device.sh prepare|run" >&2
  exit 2
  ;;
esac
