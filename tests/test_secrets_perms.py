"""Secrets and permissions: a credential is masked whatever its variable is called, reaches the step that
needs it and sits in no other process's environment; what olive-lab creates in a lab is the user's alone."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from engine.runs.state import read_state
from tests.conftest import FAKE_OLIVE
from tests.helpers import start, wait_until

pytestmark = pytest.mark.timeout(240)
SAS = (
    "https://acct.blob.core.windows.net/data?sv=2022-11-02&se=2030-01-01&sp=r&sig=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA%3D%3D"
)


def test_a_credential_under_an_innocent_name_is_masked_yet_reaches_only_its_step(
    fake_olive_lab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os, sys, runpy\n"
        f"out = {str(tmp_path)!r} + '/seen-' + sys.argv[1]\n"
        "open(out, 'w').write(os.environ.get('DATA_URL', 'missing'))\n"
        "sup = os.getppid()\n"
        "warden = int(open(f'/proc/{sup}/stat').read().rsplit(')', 1)[1].split()[1])\n"
        "for who, pid in (('supervisor', sup), ('warden', warden)):\n"
        "    open(out + '-' + who, 'wb').write(open(f'/proc/{pid}/environ', 'rb').read())\n"
        f"sys.argv = [{str(FAKE_OLIVE)!r}] + sys.argv[1:]\n"
        f"runpy.run_path({str(FAKE_OLIVE)!r}, run_name='__main__')\n"
    )
    (fake_olive_lab / "lab.toml").write_text(
        f'profile = "demo"\n[quantize]\nenabled = false\n[finetune.env]\nDATA_URL = "{SAS}"\nMY_FLAG = "on"\n'
    )
    monkeypatch.setenv("OLIVE_LAB_OLIVE", f"{sys.executable} {probe}")
    run_dir = start(fake_olive_lab)
    wait_until(lambda: read_state(run_dir).finished, timeout=200, what="the run")
    assert (tmp_path / "seen-finetune").read_text() == SAS  # the step that needs it gets it
    for who in ("supervisor", "warden"):
        environ = (tmp_path / f"seen-finetune-{who}").read_bytes()
        assert b"Zm9vYmFyYmF6cXV4" not in environ and b"OLIVE_LAB_STEP_SECRETS" not in environ, who
    assert read_state(run_dir).config.finetune.env == {"DATA_URL": "***", "MY_FLAG": "on"}
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert b"Zm9vYmFyYmF6cXV4" not in path.read_bytes(), path
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700


def test_every_file_and_folder_of_a_run_is_the_users_alone(fake_olive_lab: Path) -> None:
    run_dir = start(fake_olive_lab)
    wait_until(lambda: read_state(run_dir).finished, timeout=200, what="the run")
    assert read_state(run_dir).status == "done"
    loose = []
    for path in [run_dir, *run_dir.rglob("*")]:
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            loose.append(f"{path.relative_to(run_dir)} {oct(mode)}")
    assert not loose, loose  # events.jsonl, settings.toml, logs, data, step folders: none for others


def test_each_branch_of_a_sweep_side_by_side_gets_the_secret_and_no_run_file_holds_it(
    fake_olive_lab: Path, tmp_path: Path
) -> None:
    from tests.conftest import olive_lab
    from tests.helpers import only_run

    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os, sys, runpy\n"
        "rank = sys.argv[sys.argv.index('--lora_r') + 1] if '--lora_r' in sys.argv else sys.argv[1]\n"
        f"open({str(tmp_path)!r} + '/seen-' + sys.argv[1] + '-' + rank, 'w')"
        ".write(os.environ.get('DATA_URL', 'missing'))\n"
        f"sys.argv = [{str(FAKE_OLIVE)!r}] + sys.argv[1:]\n"
        f"runpy.run_path({str(FAKE_OLIVE)!r}, run_name='__main__')\n"
    )
    (fake_olive_lab / "lab.toml").write_text(
        'profile = "demo"\n[quantize]\nenabled = false\n[evaluate]\nenabled = false\n'
        f'[finetune.env]\nDATA_URL = "{SAS}"\n'
    )
    env = {"OLIVE_LAB_OLIVE": f"{sys.executable} {probe}", "OLIVE_LAB_SLOTS": "2", "CUDA_VISIBLE_DEVICES": ""}
    proc = olive_lab("sweep", "--set", "finetune.lora_r=4,16", "--golden", "0", lab=fake_olive_lab, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (tmp_path / "seen-finetune-4").read_text() == (tmp_path / "seen-finetune-16").read_text() == SAS
    sweep = only_run(fake_olive_lab)
    assert not list(sweep.rglob(".step-secrets.json"))  # each supervisor took its secrets and removed the file
    for path in sweep.rglob("*"):
        if path.is_file():
            assert b"Zm9vYmFyYmF6cXV4" not in path.read_bytes(), path
