"""Upload throughput and memory: the lab's upload (folder hash, resume check, byte progress) of a 200 MB
folder to Azurite, beside a bare azure-storage-blob upload of the same folder (one `upload_blob` per file,
same concurrency). Targets: >= 0.9x the bare throughput, peak memory <= 50 MB above the uploading
process's own idle (its resident size after imports, just before sending).

Each upload runs in a fresh child process, so its peak resident size is its own. Needs node (Azurite).

    python -m benchmarks.bench_azure [--mb 200] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

THROUGHPUT_TARGET = 0.9
MEMORY_TARGET_MB = 50.0
CONCURRENCY = 4  # parallel block requests within one file, both sides


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _make_folder(root: Path, total_mb: int) -> Path:
    folder = root / "onnx"
    (folder / "tokenizer").mkdir(parents=True)
    shares = {"model.onnx.data": 0.6, "model.onnx": 0.25, "travel.onnx_adapter": 0.1, "tokenizer/tokenizer.json": 0.05}
    for rel, share in shares.items():
        with open(folder / rel, "wb") as fh:
            left = int(total_mb * share * 2**20)
            while left:
                n = min(left, 8 * 2**20)
                fh.write(os.urandom(n))
                left -= n
    (folder / "genai_config.json").write_text("{}\n")
    return folder


def child(mode: str, conn: str, container: str, folder: Path, prefix: str) -> dict[str, float]:
    """One upload in this process; prints its figures as JSON."""
    from azure.storage.blob import ContainerClient

    from engine.azure import datastore, upload

    if mode == "ours":
        client = ContainerClient.from_connection_string(
            conn, container, max_single_put_size=datastore.SINGLE_PUT_LIMIT, max_block_size=datastore.BLOCK_SIZE
        )
    else:
        client = ContainerClient.from_connection_string(conn, container)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)
    idle = _rss_mb()
    start = time.perf_counter()
    if mode == "ours":
        manifest = upload.scan_folder(folder)
        manifest = manifest.model_copy(update={"content_hash": prefix})  # a fresh path each round
        hashed = time.perf_counter()
        upload.upload_folder(manifest, client, on_progress=lambda _p: None, max_concurrency=CONCURRENCY)
    else:
        hashed = start
        for path in files:
            with open(path, "rb") as fh:
                client.upload_blob(f"{prefix}/{path.relative_to(folder).as_posix()}", fh, overwrite=True,
                                   max_concurrency=CONCURRENCY)  # fmt: skip
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "hash_seconds": hashed - start, "mb": total / 2**20, "idle_mb": idle,
            "peak_above_idle_mb": peak - idle}  # fmt: skip


def _run_child(mode: str, conn: str, container: str, folder: Path, prefix: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_azure", "--child", mode, "--conn", conn, "--container", container,
         "--folder", str(folder), "--prefix", prefix],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(mb: int = 200, rounds: int = 2) -> dict[str, object]:
    from azure.storage.blob import BlobServiceClient

    from tests.fakes.azurite import Azurite, node_missing_reason

    reason = node_missing_reason()
    if reason:
        return {"skipped": reason}
    with tempfile.TemporaryDirectory(prefix="olive-lab-bench-azure-") as tmp:
        root = Path(tmp)
        folder = _make_folder(root, mb)
        az = Azurite(root / "azurite").start()
        try:
            BlobServiceClient.from_connection_string(az.connection_string).create_container("bench")
            figures: dict[str, list[dict[str, float]]] = {"bare": [], "ours": []}
            for i in range(rounds):
                for mode in ("bare", "ours") if i % 2 == 0 else ("ours", "bare"):
                    figures[mode].append(_run_child(mode, az.connection_string, "bench", folder, f"{mode}-{i}"))
        finally:
            az.stop()

    def mbps(mode: str) -> float:
        return statistics.median(r["mb"] / r["seconds"] for r in figures[mode])

    def mbps_upload_only(mode: str) -> float:
        return statistics.median(r["mb"] / (r["seconds"] - r["hash_seconds"]) for r in figures[mode])

    ours_peak = max(r["peak_above_idle_mb"] for r in figures["ours"])
    return {
        "folder_mb": mb,
        "rounds": rounds,
        "bare_mb_per_s": mbps("bare"),
        "ours_mb_per_s (with hashing)": mbps("ours"),
        "ours_mb_per_s (upload only)": mbps_upload_only("ours"),
        "throughput_ratio": mbps("ours") / mbps("bare"),
        "throughput_target": f">= {THROUGHPUT_TARGET}",
        "ours_hash_s": statistics.median(r["hash_seconds"] for r in figures["ours"]),
        "ours_peak_above_idle_mb": ours_peak,
        "bare_peak_above_idle_mb": max(r["peak_above_idle_mb"] for r in figures["bare"]),
        "memory_target": f"<= {MEMORY_TARGET_MB} MB",
        "ours_idle_mb": statistics.median(r["idle_mb"] for r in figures["ours"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child")
    parser.add_argument("--conn")
    parser.add_argument("--container")
    parser.add_argument("--folder")
    parser.add_argument("--prefix")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.conn, args.container, Path(args.folder), args.prefix)))
        return 0
    print(json.dumps(run(args.mb, args.rounds), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
