"""Put on PYTHONPATH by the Azure step tests: in every Python process of a run (the supervisor, the register
step) Azure's cloud is answered by the fakes named in OLIVE_LAB_FAKE_AZURE (JSON: the fake workspace's
names, the account key, preloaded model versions, catalog models as [registry, name, version, uri, SAS URL];
with "jobs_dir", also Azure ML's job system: tests/fakes/azure_jobs.py and the fake_jobs_cloud fixture).
Everything else, the step program included, is real."""

import json
import os

_spec = os.environ.get("OLIVE_LAB_FAKE_AZURE")
if _spec:

    def _install() -> None:
        import sys
        from pathlib import Path

        root = Path(__file__).resolve().parents[3]
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        import engine.azure.session as session
        from engine.azure.auth import SignInMethod
        from tests.fakes.azure_ml import FakeAzureML, FakeCredential

        spec = json.loads(_spec or "{}")

        def open_session(method=SignInMethod.AUTO, *, tenant_id=None, on_device_code=None):
            if spec.get("jobs_dir"):  # the job system too (tests/fakes/azure_jobs.py), its state in jobs_dir
                from tests.fakes.azure_jobs import FakeAzureJobs

                fake = FakeAzureJobs.from_spec(spec)
            else:
                fake = FakeAzureML(
                    spec["subscription"],
                    spec["resource_group"],
                    spec["workspace"],
                    account_key=spec["account_key"],
                    models=spec.get("models", {}),
                )
                for registry, name, version, uri, sas in spec.get("registry_models", []):
                    fake.registry_models[(registry, name, version)] = (uri, sas)
            return session.AzureSession(
                credential=FakeCredential(),
                method=SignInMethod.CLI,
                client_kwargs={"transport": fake},
                blob_kwargs={"retry_total": 0},
                blob_account_url=spec["blob_url"],
            )

        session.open_session = open_session

    _install()
