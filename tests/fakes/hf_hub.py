"""A loopback stand-in for the Hugging Face hub's model API, reached through HF_ENDPOINT as a mirror is.

It answers what huggingface_hub's `model_info` / `repo_exists` ask, `GET /api/models/<repo id>`, the way the
hub does: the repo's info for a model it holds, and for any other id the answer the hub gives a caller without
access, 401 with `X-Error-Code: RepoNotFound` (it does not tell a missing repo from a private one).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def fake_hub(models: set[str]) -> Iterator[str]:
    """Serve `models` on a loopback port for the block; yields the endpoint (for HF_ENDPOINT)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            repo = path.removeprefix("/api/models/").removesuffix("/")
            if path.startswith("/api/models/") and repo in models:
                self._answer(200, {"id": repo, "_id": repo, "private": False, "sha": "0" * 40, "tags": []})
            else:
                self._answer(401, {"error": "Repository Not Found"}, {"X-Error-Code": "RepoNotFound"})

        def _answer(self, status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
