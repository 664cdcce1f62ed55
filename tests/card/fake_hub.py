"""A loopback stand-in for the Hugging Face Hub's HTTP API: serves one model repo's README.md and records commits."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


class FakeHub:
    def __init__(self, repo_id: str, readme: str | None) -> None:
        self.repo_id = repo_id
        self.readme = readme
        self.requests: list[dict] = []
        self.commits: list[dict] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _record(self, body: bytes = b"") -> None:
                hub.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})

            def _reply(self, status: int, payload: bytes = b"", headers: dict | None = None, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _readme(self) -> None:
                self._record()
                if hub.readme is None:
                    self._reply(404, b'{"error": "Entry not found"}', {"X-Error-Code": "EntryNotFound"})
                    return
                data = hub.readme.encode()
                etag = hashlib.sha256(data).hexdigest()
                self._reply(200, data, {"ETag": f'"{etag}"', "X-Repo-Commit": "a" * 40}, "text/plain")

            def do_HEAD(self) -> None:
                if urlparse(self.path).path.endswith("/resolve/main/README.md"):
                    self._readme()
                else:
                    self._record()
                    self._reply(404)

            def do_GET(self) -> None:
                self.do_HEAD()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._record(body)
                path = urlparse(self.path).path
                if path == "/api/validate-yaml":  # the Hub checks the card's metadata before a commit
                    import yaml

                    content = json.loads(body)["content"]
                    try:
                        yaml.safe_load(content.split("---")[1])
                        self._reply(200, b'{"errors": [], "warnings": []}')
                    except Exception as error:  # noqa: BLE001
                        self._reply(400, json.dumps({"errors": [{"message": str(error)}]}).encode())
                elif path.endswith("/preupload/main"):
                    files = json.loads(body)["files"]
                    modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
                    self._reply(200, json.dumps({"files": modes}).encode())
                elif "/commit/" in path:
                    lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                    files = {item["value"]["path"]: base64.b64decode(item["value"]["content"]).decode() for item in lines if item["key"] == "file"}
                    hub.commits.append({"path": self.path, "header": lines[0]["value"], "files": files})
                    url = f"{hub.url}/{hub.repo_id}"
                    self._reply(200, json.dumps({"success": True, "commitOid": "b" * 40, "commitUrl": f"{url}/commit/{'b' * 40}",
                                                 "pullRequestUrl": f"{url}/discussions/1"}).encode())
                else:
                    self._reply(404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
