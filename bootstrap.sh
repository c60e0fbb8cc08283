#!/usr/bin/env bash
# Set up olive-lab's virtual environment with the locked package set (locks/), then run the app or the tests.
#
#   ./bootstrap.sh            install the locked set (if not yet), then open the app on the embedded demo
#   ./bootstrap.sh test [ARGS] install the locked set (it has the test tools), then run pytest
#   ./bootstrap.sh bench      install the locked set, then run the benchmarks
#   ./bootstrap.sh install    install only
#
# Environment: OLIVE_LAB_VENV (default ./.venv), OLIVE_LAB_FLAVOUR=cpu|cuda (default: cuda only where an
# NVIDIA GPU answers nvidia-smi), PYTHON (default python3).
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

if [ ! -x "$venv/bin/python" ]; then
  echo "olive-lab: creating the virtual environment in $venv" >&2
  "$python" -m venv "$venv"
fi
vpy="$venv/bin/python"
stamp="$venv/.olive-lab-installed"
# The locked sets (locks/*.txt, made by `python scripts/lock.py`) are installed exactly, without resolving:
# torch==X installs the CPU build where pip's configuration finds one (these machines' local wheel folder, or
# PIP_EXTRA_INDEX_URL set to PyTorch's CPU index), else the package index's CUDA build.
lock="locks/$flavour.txt"
want="$(cat pyproject.toml bootstrap.sh "$lock" locks/cuda-builder.txt | sha256sum | cut -c1-16)-$flavour"

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "olive-lab: installing the $flavour flavour ($lock) into $venv" >&2
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
    [ -x "$builder/bin/python" ] || "$vpy" -m venv "$builder"
    "$builder/bin/python" -m pip install --quiet --no-deps -r locks/cuda-builder.txt
    "$vpy" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" \
      > "$("$builder/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/olive-lab-app.pth"
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
  test)    exec "$vpy" -m pytest "$@" ;;
  bench)   exec "$vpy" -m benchmarks "$@" ;;
  install) echo "olive-lab: installed ($flavour) in $venv" ;;
  *)       exec "$venv/bin/olive-lab" "$action" "$@" ;;
esac
