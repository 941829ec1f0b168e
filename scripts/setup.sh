#!/usr/bin/env bash
# Installs whatever this project needs and is missing, then builds the addon.
# Safe to run again: each step checks before it acts.
# `--check` (the package's install script): installs nothing, reports what is missing, builds the addon.
set -euo pipefail
cd "$(dirname "$0")/.."
check_only=false
[ "${1:-}" = "--check" ] && check_only=true

apt_packages=(libtorch-dev libgloo-dev libopenblas0-pthread libopenblas0-openmp libjpeg62-turbo-dev libavformat-dev libavcodec-dev libswscale-dev g++ ffmpeg)
missing=()
if [ -z "${TORCH_DIR:-}" ]; then
  [ -f /usr/include/torch/script.h ] || missing+=(libtorch-dev)
  [ -f /usr/include/gloo/context.h ] || missing+=(libgloo-dev)
  [ -f /usr/include/jpeglib.h ] || missing+=(libjpeg62-turbo-dev)
  # Debian's libtorch calls whichever BLAS libblas.so.3 points to: the reference one is ~50x slower.
  [ -d /usr/lib/x86_64-linux-gnu/openblas-pthread ] || [ -d /usr/lib/aarch64-linux-gnu/openblas-pthread ] || missing+=(libopenblas0-pthread)
  # The addon links the OpenMP build of OpenBLAS, so BLAS shares libtorch's OpenMP threads instead
  # of a second pool that spins against them (native/build.mjs).
  [ -d /usr/lib/x86_64-linux-gnu/openblas-openmp ] || [ -d /usr/lib/aarch64-linux-gnu/openblas-openmp ] || missing+=(libopenblas0-openmp)
  [ -n "$(ls /usr/include/*/libavformat/avformat.h 2>/dev/null)" ] || missing+=(libavformat-dev libavcodec-dev libswscale-dev)
fi
command -v g++ >/dev/null || missing+=(g++)
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && ! $check_only; then
    echo "setup: installing ${missing[*]} from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing ${missing[*]}; run:  sudo apt-get install -y ${apt_packages[*]}" >&2
    exit 1
  fi
fi

if $check_only; then
  if [ -n "${BIKE_TORCH_ADDON:-}" ]; then
    [ -f "$BIKE_TORCH_ADDON" ] || { echo "setup: BIKE_TORCH_ADDON=$BIKE_TORCH_ADDON: no such file" >&2; exit 1; }
    echo "setup: using the addon at BIKE_TORCH_ADDON=$BIKE_TORCH_ADDON (not building one)" >&2
    exit 0
  fi
  exec node native/build.mjs >&2
fi

# What only the tests and benchmarks use (`--tests`, as `npm test` runs it): Debian's Chromium for the
# headless page checks, and Debian's Python with Pillow, numpy, PyTorch (the same libtorch) and PyAV,
# the references that decoding, TorchScript and benchmark checks compare with. Without them those
# checks skip, naming what is missing.
test_tools=false
[ "${1:-}" = "--tests" ] && test_tools=true
wanted=()
command -v chromium >/dev/null || wanted+=(chromium)
if $test_tools; then
  /usr/bin/python3 -c 'import PIL' 2>/dev/null || wanted+=(python3-pil)
  /usr/bin/python3 -c 'import numpy' 2>/dev/null || wanted+=(python3-numpy)
  /usr/bin/python3 -c 'import torch' 2>/dev/null || wanted+=(python3-torch)
  /usr/bin/python3 -c 'import av' 2>/dev/null || wanted+=(python3-av)
fi
if [ ${#wanted[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${wanted[*]} (page checks and reference comparisons)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
  else
    echo "setup: ${wanted[*]} missing; the checks that need them are skipped (sudo apt-get install -y ${wanted[*]})" >&2
  fi
fi

if [ ! -d node_modules/tsx ] || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages" >&2
  # onnxruntime-node (dev dependency: ONNX export tests, bench:infer's baseline) ships its CPU
  # binaries; its install script would download GPU ones.
  ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --loglevel=error >&2
fi

node native/build.mjs >&2
