"""How fast the dataset viewer opens a huge file and how fast the statistics pass runs.

Targets: the first page of a 1M-record file in at most 0.5 s (before the line index exists), and the full
index and statistics passes reported as records per second.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

from engine.data.browse import JsonlIndex, compute_stats
from engine.data.records import check_dataset

RECORDS = 1_000_000
FIRST_PAGE_TARGET_S = 0.5


def make_big_file(path: Path, records: int = RECORDS) -> Path:
    """A JSONL file of `records` short travel-like records, written as bytes in one go."""
    line = b'{"prompt": "How do I get to stop %d by bus?", "response": "Take line %d and get off after %d stops."}\n'
    path.write_bytes(b"".join(line % (i, i % 97, i % 13) for i in range(records)))
    return path


def run(records: int = RECORDS) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = make_big_file(Path(tmp) / "big.jsonl", records)
        size_mb = path.stat().st_size / 1e6

        start = time.perf_counter()
        index = JsonlIndex(path)
        first = index.page(0, 100)
        first_page_s = time.perf_counter() - start
        assert len(first) == 100

        start = time.perf_counter()
        builder = threading.Thread(target=index.build)
        builder.start()
        builder.join()
        index_s = time.perf_counter() - start
        start = time.perf_counter()
        index.page(records // 2, 100)
        middle_page_s = time.perf_counter() - start

        start = time.perf_counter()
        stats = compute_stats(path)
        stats_s = time.perf_counter() - start
        assert stats.records == records

        start = time.perf_counter()
        report = check_dataset(path, ("prompt", "response"))
        check_s = time.perf_counter() - start
        assert report.ok

    results = {
        "records": float(records),
        "file_mb": round(size_mb, 1),
        "first_page_s": round(first_page_s, 4),
        "first_page_target_s": FIRST_PAGE_TARGET_S,
        "index_s": round(index_s, 2),
        "middle_page_s": round(middle_page_s, 4),
        "stats_s": round(stats_s, 2),
        "stats_records_per_s": round(records / stats_s),
        "check_s": round(check_s, 2),
        "check_records_per_s": round(records / check_s),
    }
    for key, value in results.items():
        print(f"{key:>22}: {value}")
    verdict = "ok" if first_page_s <= FIRST_PAGE_TARGET_S else "SLOW"
    print(f"first page {first_page_s * 1000:.1f} ms (target {FIRST_PAGE_TARGET_S * 1000:.0f} ms): {verdict}")
    return results


if __name__ == "__main__":
    results = run(int(sys.argv[1]) if len(sys.argv) > 1 else RECORDS)
    sys.exit(0 if results["first_page_s"] <= FIRST_PAGE_TARGET_S else 1)
