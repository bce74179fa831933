#!/usr/bin/env bash
# Device check of bce-grad on a one-GPU NVIDIA machine (H100/H200), from a fresh checkout.
#
#   tools/device_check.sh                 venv, install, CUDA compile, UT precision cases on the
#                                         GPU, device arrays (torch CUDA tensors) in place,
#                                         bit-exact vs the golden (numpy copied, torch CUDA in
#                                         place), bandwidth vs copy and torch
#   tools/device_check.sh --compile-only  no GPU needed: generate the op's CUDA kernels (and
#                                         compile them with nvcc when it is on PATH)
#
# Options: --venv DIR (default .venv-device; created with --system-site-packages, so a
# preinstalled CUDA torch is reused), --no-install (use DIR or $PYTHON as it is).
# Offline machines: point pip at a wheelhouse (PIP_NO_INDEX=1 PIP_FIND_LINKS=/path/wheels).
# --compile-only runs with $PYTHON (default python3) and installs nothing unless --venv is given.
set -euo pipefail

cd "$(dirname "$0")/.."
compile_only=0
venv=""
install=1
while [ $# -gt 0 ]; do
  case "$1" in
    --compile-only) compile_only=1 ;;
    --venv) venv="$2"; shift ;;
    --no-install) install=0 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "error: [E80000] unknown option [$1]; see --help" >&2; exit 2 ;;
  esac
  shift
done

start=$(date +%s)
step() { echo "== [$(( $(date +%s) - start ))s] $*"; }

python="${PYTHON:-python3}"
if [ "$compile_only" = 0 ] && [ -z "$venv" ]; then
  venv=.venv-device
fi
if [ -n "$venv" ]; then
  if [ ! -x "$venv/bin/python" ]; then
    step "creating $venv"
    "$python" -m venv --system-site-packages "$venv"
  fi
  python="$venv/bin/python"
  if [ "$install" = 1 ]; then
    step "installing the project: pip install -e .[test,torch]"
    "$python" -m pip install --quiet --disable-pip-version-check -e ".[test,torch]"
  fi
fi
step "python: $python"

if [ "$compile_only" = 1 ]; then
  step "compile-only: CUDA kernels of the op"
  "$python" -m bce_grad.tools.bench.device_check --compile-only
  step "done"
  exit 0
fi

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
export BCE_GRAD_TARGET=cuda
export BCE_GRAD_CACHE="${BCE_GRAD_CACHE:-$(mktemp -d)/cache}"
step "UT precision cases on the GPU (BCE_GRAD_TARGET=cuda)"
"$python" -m pytest -q -p no:cacheprovider testcases/ut -k precision
step "device arrays in place (torch CUDA tensors through the API)"
"$python" -m pytest -q -p no:cacheprovider -rs testcases/api/test_dlpack_arrays.py
step "compile, bit-exact vs the golden, bandwidth"
"$python" -m bce_grad.tools.bench.device_check
step "done"
