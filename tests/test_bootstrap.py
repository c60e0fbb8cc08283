"""`bootstrap.sh install` prints nothing but its own lines around the editable install.

The heavy installs (pip, torch, the dependencies, autoawq) are stood in for by a venv whose `python` answers
them at once; the editable install itself is real: setuptools' build backend builds the editable wheel of this
checkout with the environment bootstrap.sh gives pip (pip 25+ forwards the backend's warnings to the user).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_editable_install_prints_no_setuptools_warning_block(tmp_path: Path) -> None:
    pytest.importorskip("setuptools.build_meta")
    venv, wheels = tmp_path / "venv", tmp_path / "wheels"
    (venv / "bin").mkdir(parents=True)
    wheels.mkdir()
    # as pip runs a build backend: its own output hidden, its warnings (UserWarning) shown to the user
    build = (
        "import os, warnings\nimport setuptools.build_meta as b\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        f"    b.build_editable({str(wheels)!r})\n"
        "shown = os.fdopen(3, 'w')\n"
        "for w in seen:\n"
        "    if issubclass(w.category, UserWarning):\n"
        "        print(f'WARNING: {w.message}', file=shown)\n"
    )
    python = venv / "bin" / "python"
    python.write_text(
        "#!/usr/bin/env bash\n"
        'case "$*" in\n'
        f'  *"pip install --quiet --no-deps -e"*) cd {shlex.quote(str(ROOT))} && exec {shlex.quote(sys.executable)} -c '
        f"{shlex.quote(build)} 3>&2 >/dev/null 2>&1 ;;\n"
        "  *) exit 0 ;;\n"  # pip upgrade, `import torch`, autoawq: already there
        "esac\n"
    )
    python.chmod(0o755)
    env = {**os.environ, "OLIVE_LAB_VENV": str(venv), "OLIVE_LAB_FLAVOUR": "cpu"}
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run(
        ["bash", str(ROOT / "bootstrap.sh"), "install"], capture_output=True, text=True, env=env, timeout=300
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert list(wheels.glob("olive_lab-*.whl")), out  # the editable wheel was really built
    assert "Please be careful with folders" not in out and "Editable installation" not in out, out
    assert proc.stderr.splitlines() == [f"olive-lab: installing the cpu flavour (locks/cpu.txt) into {venv}"], out
    assert proc.stdout.splitlines() == [f"olive-lab: installed (cpu) in {venv}"], out
