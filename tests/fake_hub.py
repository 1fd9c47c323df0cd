"""A Hugging Face Hub stand-in over HTTP on 127.0.0.1, for ``HF_ENDPOINT`` tests.

It answers the requests huggingface_hub's ``snapshot_download`` makes (repo info at a
revision, the recursive file tree, ``resolve`` HEAD/GET of each file with ``ETag`` and
``X-Repo-Commit``) for one repository whose files are a local folder; anything else is
a 404 with the Hub's ``X-Error-Code`` header. Every request is recorded in ``log``.
"""

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class FakeHub:
    def __init__(self, folder, repo_id, revisions=("main",), sha="c" * 40):
        self.repo_id, self.revisions, self.sha = repo_id, set(revisions), sha
        self.files = {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}
        self.log = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                hub._answer(self, head=False)

            def do_HEAD(self):
                hub._answer(self, head=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, req, head):
        self.log.append((req.command, req.path))
        path = req.path.split("?")[0]
        api = f"/api/models/{self.repo_id}/"
        if path.startswith(api + "revision/") and path[len(api + "revision/"):] in self.revisions:
            info = {"id": self.repo_id, "sha": self.sha,
                    "siblings": [{"rfilename": n} for n in self.files]}
            return self._send(req, 200, json.dumps(info).encode(), head, json_body=True)
        if path == api + f"tree/{self.sha}":
            tree = [{"type": "file", "path": n, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                    for n, b in self.files.items()]
            return self._send(req, 200, json.dumps(tree).encode(), head, json_body=True)
        resolve = f"/{self.repo_id}/resolve/{self.sha}/"
        if path.startswith(resolve) and path[len(resolve):] in self.files:
            body = self.files[path[len(resolve):]]
            return self._send(req, 200, body, head, extra={
                "ETag": f'"{hashlib.sha1(body).hexdigest()}"', "X-Repo-Commit": self.sha})
        code = "RevisionNotFound" if path.startswith(api + "revision/") else "RepoNotFound"
        return self._send(req, 404, b'{"error": "not found"}', head, json_body=True,
                          extra={"X-Error-Code": code})

    @staticmethod
    def _send(req, status, body, head, json_body=False, extra=None):
        req.send_response(status)
        if json_body:
            req.send_header("Content-Type", "application/json")
        for key, value in (extra or {}).items():
            req.send_header(key, value)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        if not head:
            req.wfile.write(body)
