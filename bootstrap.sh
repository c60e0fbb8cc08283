#!/usr/bin/env bash
# Set up olive-lab's virtual environment (installing only what is missing), then run the app or the tests.
#
#   ./bootstrap.sh            install what is missing, then open the app on the embedded demo
#   ./bootstrap.sh test [ARGS] install what is missing (with the test tools), then run pytest
#   ./bootstrap.sh bench      install what is missing, then run the benchmarks
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

extras="$flavour"
[ "$action" = test ] || [ "$action" = bench ] && extras="$flavour,dev"

if [ ! -x "$venv/bin/python" ]; then
  echo "olive-lab: creating the virtual environment in $venv" >&2
  "$python" -m venv "$venv"
fi
vpy="$venv/bin/python"
stamp="$venv/.olive-lab-installed"
want="$(cat pyproject.toml bootstrap.sh | sha256sum | cut -c1-16)-$extras"

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "olive-lab: installing the $flavour flavour ($extras) into $venv" >&2
  "$vpy" -m pip install --quiet --upgrade pip
  if ! "$vpy" -c "import torch" >/dev/null 2>&1; then
    if [ "$flavour" = cpu ]; then
      # A pinned CPU build: a looser spec pulls a multi-GB CUDA build.
      "$vpy" -m pip install --quiet "torch==2.13.0"
    else
      "$vpy" -m pip install --quiet torch
    fi
  fi
  # setuptools warns on every editable install of this layout that folders named like the packages may take
  # precedence during imports: those folders are the packages. Only that warning is filtered, errors still show.
  PYTHONWARNINGS="${PYTHONWARNINGS:+$PYTHONWARNINGS,}ignore:Editable installation" \
    "$vpy" -m pip install --quiet -e ".[$extras]"
  # autoawq 0.2.9's metadata asks for triton and an old torch; its scale search needs neither.
  "$vpy" -m pip install --quiet --no-deps "autoawq==0.2.9"
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
