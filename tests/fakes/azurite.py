"""Azurite (Microsoft's Azure Storage emulator, npm package `azurite`) as a test service: the real blob
protocol on a free loopback port, its data in a folder that survives a kill and a restart.

`./bootstrap.sh test` installs it into `.tools/` (ignored by git); `ensure_installed()` does the same when a
test needs it and it is missing. Tests skip only when node itself is absent.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools"
AZURITE_VERSION = "3.37.0"
BIN = TOOLS / "node_modules" / ".bin" / "azurite-blob"

ACCOUNT = "devstoreaccount1"
# Azurite's fixed, published development key: it is also the key the fake workspace hands out, so the
# secrets scan looks for it in everything the product writes.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def node_missing_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed, so Azurite (the blob storage emulator) cannot run"
    return None


def ensure_installed() -> Path:
    if not BIN.exists():
        subprocess.run(
            ["npm", "install", "--prefix", str(TOOLS), "--no-audit", "--no-fund", "--loglevel=error",
             f"azurite@{AZURITE_VERSION}"],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
    return BIN


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Azurite:
    """One blob service; `kill()` is a SIGKILL (a dropped connection mid-upload), `start()` brings it back
    on the same port with the same data."""

    def __init__(self, location: Path, port: int | None = None) -> None:
        self.location = location
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};BlobEndpoint={self.url};"

    def start(self, timeout: float = 30) -> Azurite:
        self.location.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [str(ensure_installed()), "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
             "--location", str(self.location), "--silent", "--skipApiVersionCheck", "--loose"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"azurite exited with status {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("azurite did not start listening in time")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None
