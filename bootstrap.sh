#!/usr/bin/env bash
# Set up olive-lab's virtual environment with the locked package set (locks/), then run the app or the tests.
#
#   ./bootstrap.sh            install the locked set (if not yet), then open the app on the embedded demo
#   ./bootstrap.sh test [ARGS] install the locked set (it has the test tools), then run pytest
#   ./bootstrap.sh bench      install the locked set, then run the benchmarks
#   ./bootstrap.sh install    install only
#
# Environment: OLIVE_LAB_VENV (default ./.venv), OLIVE_LAB_FLAVOUR=cpu|cuda (default: cuda only where an
# NVIDIA GPU answers nvidia-smi), PYTHON (default python3), OLIVE_LAB_SYSTEM_TORCH=1 (cuda: keep the torch and
# CUDA libraries that PYTHON already imports, as on a GPU image built for its own driver; doctor says so).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
action="${1:-app}"; [ $# -gt 0 ] && shift
venv="${OLIVE_LAB_VENV:-$here/.venv}"
python="${PYTHON:-python3}"

flavour="${OLIVE_LAB_FLAVOUR:-}"
if [ -z "$flavour" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then flavour=cuda; else flavour=cpu; fi
fi
case "$flavour" in cpu|cuda) ;; *) echo "OLIVE_LAB_FLAVOUR must be cpu or cuda, not '$flavour'" >&2; exit 2;; esac

system_torch="${OLIVE_LAB_SYSTEM_TORCH:-0}"
machine=""
if [ "$system_torch" != 0 ]; then
  [ "$flavour" = cuda ] || { echo "OLIVE_LAB_SYSTEM_TORCH is for the cuda flavour" >&2; exit 2; }
  machine="$("$python" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))')" \
    || { echo "OLIVE_LAB_SYSTEM_TORCH=1: $python does not import torch" >&2; exit 2; }
fi
# Over the machine's torch, pip too comes from the machine's packages (laid under the environment below).
newvenv() { if [ -n "$machine" ]; then "$python" -m venv --without-pip "$1"; else "$2" -m venv "$1"; fi; }
if [ ! -x "$venv/bin/python" ]; then
  echo "olive-lab: creating the virtual environment in $venv" >&2
  newvenv "$venv" "$python"
fi
vpy="$venv/bin/python"
stamp="$venv/.olive-lab-installed"
# The locked sets (locks/*.txt, made by `python scripts/lock.py`) are installed exactly, without resolving:
# torch==X installs the CPU build where pip's configuration finds one (these machines' local wheel folder, or
# PIP_EXTRA_INDEX_URL set to PyTorch's CPU index), else the package index's CUDA build.
lock="locks/$flavour.txt"
want="$(cat pyproject.toml bootstrap.sh "$lock" locks/cuda-builder.txt | sha256sum | cut -c1-16)-$flavour${machine:+-$machine}"
purelib() { "$1" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"; }

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "olive-lab: installing the $flavour flavour ($lock) into $venv${machine:+ over the torch in $machine}" >&2
  if [ -n "$machine" ]; then
    # The machine's torch, triton and CUDA libraries (engine/lock.py: MACHINE_PACKAGES) are laid under the
    # environment; the rest of the lock is installed in it and comes first. doctor reads the marker.
    echo "$machine" > "$(purelib "$vpy")/olive-lab-machine.pth"
    echo "$machine" > "$venv/olive-lab-machine-torch"
    "$vpy" -m engine.lock without-machine "$lock" > "$venv/olive-lab-lock.txt"
    lock="$venv/olive-lab-lock.txt"
  else
    rm -f "$(purelib "$vpy")/olive-lab-machine.pth" "$venv/olive-lab-machine-torch"
  fi
  "$vpy" -m pip install --quiet --upgrade pip
  "$vpy" -m pip install --quiet --no-deps -r "$lock"
  # setuptools warns on every editable install of this layout that folders named like the packages may take
  # precedence during imports: those folders are the packages. Only that warning is filtered, errors still show.
  PYTHONWARNINGS="${PYTHONWARNINGS:+$PYTHONWARNINGS,}ignore:Editable installation" \
    "$vpy" -m pip install --quiet --no-deps -e .
  if [ "$flavour" = cuda ]; then
    # The ONNX builder: Olive 0.13's ModelBuilder pass needs onnxruntime-genai 0.14 (CPU), and one environment
    # holds one onnxruntime_genai, so it lives in $venv/onnx-builder, laid over the app's packages; the
    # optimize step runs its `olive`.
    builder="$venv/onnx-builder"
    [ -x "$builder/bin/python" ] || newvenv "$builder" "$vpy"
    { purelib "$vpy"; [ -z "$machine" ] || echo "$machine"; } > "$(purelib "$builder/bin/python")/olive-lab-app.pth"
    "$builder/bin/python" -m pip install --quiet --no-deps --ignore-installed -r locks/cuda-builder.txt
  fi
  echo "$want" > "$stamp"
fi

# The Azure tests and benchmark store blobs in Azurite (Microsoft's storage emulator, an npm package), kept in
# the ignored .tools/ folder; without node they skip and say so.
if { [ "$action" = test ] || [ "$action" = bench ]; } && command -v npm >/dev/null 2>&1 \
    && [ ! -x "$here/.tools/node_modules/.bin/azurite-blob" ]; then
  echo "olive-lab: installing azurite into .tools/ (the Azure tests' blob storage)" >&2
  npm install --prefix "$here/.tools" --no-audit --no-fund --loglevel=error "azurite@3.37.0" >&2
fi

export OLIVE_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_TELEMETRY=1
case "$action" in
  app)     exec "$venv/bin/olive-lab" "$@" ;;
  # Two workers (pytest-xdist): most tests wait on processes rather than use a core; tests sharing a heavy
  # session fixture stay on one worker (tests/conftest.py). OLIVE_LAB_TEST_WORKERS=0 runs them in this process.
  test)    exec "$vpy" -m pytest -n "${OLIVE_LAB_TEST_WORKERS:-2}" --dist loadgroup "$@" ;;
  bench)   exec "$vpy" -m benchmarks "$@" ;;
  install) echo "olive-lab: installed ($flavour) in $venv" ;;
  *)       exec "$venv/bin/olive-lab" "$action" "$@" ;;
esac
