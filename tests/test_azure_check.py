"""`olive-lab azure check` against the fake workspace: all in order, then one misconfiguration at a time, each
named with its fix; nothing is created or changed."""

from __future__ import annotations

import json

import pytest

from tests.conftest import olive_lab
from tests.helpers import remote_lab

pytestmark = pytest.mark.azure
ON_CLUSTER = '[finetune]\nrun_on = "azureml:gpu-a100"\n'


def _check(lab, **env):
    proc = olive_lab("azure", "check", "--json", lab=lab, env=env)
    return proc.returncode, {f["check"]: f for f in json.loads(proc.stdout)}, proc


def test_a_workspace_in_order_passes_every_check_and_nothing_is_written(fake_jobs_cloud, tmp_path) -> None:
    lab = remote_lab(tmp_path, fake_jobs_cloud, extra=ON_CLUSTER)
    rc, found, proc = _check(lab)
    assert rc == 0, proc.stdout + proc.stderr
    assert [k for k in found] == ["sign-in", "workspace", "datastore", "storage", "cluster", "quota"]
    assert all(f["ok"] for f in found.values())
    assert "gpu-a100" in found["cluster"]["detail"] and "96 of 96 vCPUs free" in found["quota"]["detail"]
    assert not [m for _t, _pid, m, _p in fake_jobs_cloud.store.requests() if m in ("PUT", "DELETE")]
    text = olive_lab("azure", "check", lab=lab).stdout
    assert text.rstrip().endswith("all in order")


@pytest.mark.parametrize(
    ("change", "check", "fix"),
    [({"token_fails_after": 0}, "sign-in", "az login"),
     ({"workspace": "another-ws"}, "workspace", "--workspace"),
     ({"blob_url": "http://127.0.0.1:9"}, "storage", "network"),
     ({"quota": {"StandardNCADSA100v4Family": [24, 24]}}, "quota", "ask for more StandardNCADSA100v4Family quota"),
     ({"cluster": "gpu-h100"}, "cluster", "create it in the studio")],
)  # fmt: skip
def test_each_misconfiguration_is_named_with_its_fix(fake_jobs_cloud, tmp_path, change, check, fix) -> None:
    cluster = change.pop("cluster", "gpu-a100")
    lab = remote_lab(tmp_path, fake_jobs_cloud, extra=f'[finetune]\nrun_on = "azureml:{cluster}"\n')
    fake_jobs_cloud.configure(**change)
    rc, found, proc = _check(lab)
    assert rc == 1, proc.stdout + proc.stderr
    assert found[check]["ok"] is False and fix in (found[check]["fix"] or ""), found[check]
    assert [k for k, f in found.items() if not f["ok"]] == [check]


def test_a_refused_list_secrets_is_said_and_the_users_own_sign_in_is_tried(fake_jobs_cloud, tmp_path) -> None:
    lab = remote_lab(tmp_path, fake_jobs_cloud, extra=ON_CLUSTER)
    fake_jobs_cloud.configure(secrets_refused=True)
    _rc, found, _proc = _check(lab)
    assert "identity-based" in found["datastore"]["detail"]
    assert "your own sign-in" in found["roles"]["detail"] and "Storage Blob Data Contributor" in found["roles"]["fix"]
