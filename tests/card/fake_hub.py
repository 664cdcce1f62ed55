"""A loopback stand-in for the Hugging Face Hub's HTTP API: model and dataset repos held in memory, every request and commit recorded.

It answers what huggingface_hub and datasets ask of the Hub to download a file, list or describe a repo,
create one and commit to it. A direct commit changes the repo's files; a pull request is only recorded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

REPO_KINDS = {"models": "model", "datasets": "dataset", "spaces": "space"}


class FakeHub:
    def __init__(self, repo_id: str | None = None, readme: str | None = None, files: dict[str, str] | None = None) -> None:
        self.repos: dict[tuple[str, str], dict[str, bytes]] = {}  # (kind, repo id) -> path -> content
        self.private: dict[tuple[str, str], bool] = {}
        self.revisions: dict[tuple[str, str], int] = {}  # commits applied, for a new sha after each
        self.requests: list[dict] = []
        self.commits: list[dict] = []
        if repo_id is not None:
            content = dict(files or {}) | ({"README.md": readme} if readme is not None else {})
            self.repos[("model", repo_id)] = {path: text.encode() for path, text in content.items()}
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

            def _json(self, value, status: int = 200) -> None:
                self._reply(status, json.dumps(value).encode())

            def _not_found(self, code: str = "RepoNotFound") -> None:
                self._reply(404, json.dumps({"error": code}).encode(), {"X-Error-Code": code})

            def do_HEAD(self) -> None:
                self._record()
                parts = [unquote(part) for part in urlparse(self.path).path.strip("/").split("/")]
                if parts[0] == "api":
                    self._api_get(parts[1:])
                    return
                kind = "model"
                if parts[0] in ("datasets", "spaces"):
                    kind, parts = REPO_KINDS[parts[0]], parts[1:]
                if len(parts) >= 5 and parts[2] == "resolve":
                    self._resolve(kind, "/".join(parts[:2]), "/".join(parts[4:]))
                else:
                    self._not_found()

            def do_GET(self) -> None:
                self.do_HEAD()

            def _resolve(self, kind: str, repo_id: str, path: str) -> None:
                files = hub.repos.get((kind, repo_id))
                if files is None:
                    self._not_found()
                elif path not in files:
                    self._not_found("EntryNotFound")
                else:
                    data = files[path]
                    self._reply(200, data, {"ETag": f'"{hashlib.sha256(data).hexdigest()}"', "X-Repo-Commit": hub.sha(kind, repo_id)},
                                "application/octet-stream")

            def _api_get(self, parts: list[str]) -> None:
                if len(parts) < 3 or parts[0] not in REPO_KINDS:
                    self._not_found()
                    return
                kind, repo_id, rest = REPO_KINDS[parts[0]], "/".join(parts[1:3]), parts[3:]
                files = hub.repos.get((kind, repo_id))
                if files is None:
                    self._not_found()
                elif not rest or rest[0] == "revision":
                    self._json({"id": repo_id, "sha": hub.sha(kind, repo_id), "private": hub.private.get((kind, repo_id), False),
                                "siblings": [{"rfilename": path} for path in sorted(files)], "tags": [], "disabled": False,
                                "gated": False, "lastModified": "2026-12-01T00:00:00.000Z"})
                elif rest[0] == "tree":
                    folder = "/".join(rest[2:])
                    recursive = parse_qs(urlparse(self.path).query).get("recursive", ["false"])[0].lower() in ("1", "true")
                    self._json(hub.listing(kind, repo_id, folder, recursive))
                else:
                    self._not_found()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._record(body)
                parts = [unquote(part) for part in urlparse(self.path).path.strip("/").split("/")]
                if parts[:2] == ["api", "validate-yaml"]:  # the Hub checks a card's metadata before a commit
                    import yaml

                    try:
                        yaml.safe_load(json.loads(body)["content"].split("---")[1])
                        self._json({"errors": [], "warnings": []})
                    except Exception as error:  # noqa: BLE001
                        self._json({"errors": [{"message": str(error)}]}, 400)
                    return
                if parts[:3] == ["api", "repos", "create"]:
                    request = json.loads(body)
                    kind = request.get("type") or "model"
                    repo_id = f"{request['organization']}/{request['name']}" if request.get("organization") else request["name"]
                    existed = (kind, repo_id) in hub.repos
                    hub.repos.setdefault((kind, repo_id), {})
                    hub.private.setdefault((kind, repo_id), request.get("visibility") == "private" or bool(request.get("private")))
                    self._json({"url": f"{hub.url}/{repo_id}", "name": repo_id}, 409 if existed else 200)
                    return
                if len(parts) < 5 or parts[0] != "api" or parts[1] not in REPO_KINDS:
                    self._not_found()
                    return
                kind, repo_id, action = REPO_KINDS[parts[1]], "/".join(parts[2:4]), parts[4]
                files = hub.repos.get((kind, repo_id))
                if files is None:
                    self._not_found()
                elif action == "preupload":
                    modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in json.loads(body)["files"]]
                    self._json({"files": modes})
                elif action == "paths-info":
                    asked = parse_qs(body.decode()).get("paths", []) if body[:1] != b"{" else json.loads(body).get("paths", [])
                    self._json([entry for entry in hub.listing(kind, repo_id, "", True) if entry["path"] in asked])
                elif action == "commit":
                    self._commit(kind, repo_id, body)
                else:
                    self._not_found()

            def _commit(self, kind: str, repo_id: str, body: bytes) -> None:
                lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                added = {item["value"]["path"]: base64.b64decode(item["value"]["content"]) for item in lines if item["key"] == "file"}
                deleted = [item["value"]["path"] for item in lines if item["key"] in ("deletedFile", "deletedFolder")]
                pull_request = "create_pr=1" in self.path
                hub.commits.append({"kind": kind, "repo_id": repo_id, "path": self.path, "header": lines[0]["value"],
                                    "files": {path: _text(data) for path, data in added.items()}, "deleted": deleted})
                if not pull_request:
                    files = hub.repos[(kind, repo_id)]
                    for path in deleted:
                        for existing in [p for p in files if p == path or p.startswith(path.rstrip("/") + "/")]:
                            del files[existing]
                    files.update(added)
                    hub.revisions[(kind, repo_id)] = hub.revisions.get((kind, repo_id), 0) + 1
                prefix = "datasets/" if kind == "dataset" else ""
                url = f"{hub.url}/{prefix}{repo_id}"
                sha = hub.sha(kind, repo_id)
                self._json({"success": True, "commitOid": sha, "commitUrl": f"{url}/commit/{sha}",
                            "pullRequestUrl": f"{url}/discussions/1" if pull_request else None})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def files(self, repo_id: str, kind: str = "model") -> dict[str, bytes]:
        return dict(self.repos[(kind, repo_id)])

    def sha(self, kind: str, repo_id: str) -> str:
        return hashlib.sha1(f"{kind}/{repo_id}/{self.revisions.get((kind, repo_id), 0)}".encode()).hexdigest()

    def listing(self, kind: str, repo_id: str, folder: str, recursive: bool) -> list[dict]:
        """The Hub's tree entries under ``folder``: files and their folders."""
        prefix = folder.strip("/") + "/" if folder.strip("/") else ""
        entries: dict[str, dict] = {}
        for path, data in sorted(self.repos[(kind, repo_id)].items()):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix):].split("/")
            for depth in range(1, len(rest)):
                directory = prefix + "/".join(rest[:depth])
                entries.setdefault(directory, {"type": "directory", "oid": hashlib.sha1(directory.encode()).hexdigest(), "size": 0,
                                               "path": directory})
                if not recursive:
                    break
            if recursive or len(rest) == 1:
                entries[path] = {"type": "file", "oid": hashlib.sha1(data).hexdigest(), "size": len(data), "path": path}
        return list(entries.values())

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _text(data: bytes) -> str | bytes:
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data
