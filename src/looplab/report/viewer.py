"""``looplab view``: serve the report of job folders on 127.0.0.1, updating while the job runs.

Pages: ``/`` (the report, as in ``looplab report --html``, plus the running
trials), ``/trial/NAME`` (a trial's curve, checkpoints and trajectory). Each page
polls a JSON endpoint once a second and swaps in what changed, never reloading:
``/api/state?v=VERSION`` returns the page's sections when the job folders changed
(``VERSION`` is a digest of the sizes and mtimes of the files reports read), and
``/api/trial/NAME?after=STEP`` returns the trajectory events after ``STEP`` plus
the trial's updated sections. ``/api/report.json`` is the full report as JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from looplab.records.layout import TrialPaths
from looplab.report.aggregate import report_from_trials
from looplab.report.failure_modes import FailureSettings
from looplab.report.html import render_report_html, render_sections
from looplab.report.model import TrialData, load_jobs, load_trial, read_jsonl
from looplab.report.trial_html import render_event, render_trial_page, trial_sections


class JobViewer:
    """Builds (and caches, per version of the folders) the report of ``job_dirs``."""

    def __init__(self, job_dirs: list[Path], settings: FailureSettings | None = None):
        self.job_dirs = [Path(j).resolve() for j in job_dirs]
        self.settings = settings or FailureSettings()
        self._lock = threading.Lock()
        self._cache: tuple[str, dict[str, Any], list[TrialData]] | None = None

    def version(self) -> str:
        h = hashlib.sha256()
        for j in self.job_dirs:
            try:
                entries = sorted(os.scandir(j), key=lambda e: e.name)
            except OSError:
                continue
            for e in entries:
                if not e.is_dir() or e.name.startswith("."):
                    continue
                for f in TrialPaths(Path(e.path)).watched():
                    try:
                        st = os.stat(f)
                    except OSError:
                        continue
                    h.update(f"{f.relative_to(j)}:{st.st_size}:{st.st_mtime_ns};".encode())
        return h.hexdigest()[:16]

    def state(self) -> tuple[str, dict[str, Any], list[TrialData]]:
        v = self.version()
        with self._lock:
            if self._cache is None or self._cache[0] != v:
                trials = load_jobs(self.job_dirs)
                rep = report_from_trials(trials, self.job_dirs, self.settings)
                self._cache = (v, rep, trials)
            return self._cache

    def trial(self, name: str) -> TrialData | None:
        for j in self.job_dirs:
            d = j / name
            if "/" not in name and not name.startswith(".") and d.is_dir():
                return load_trial(d, j.name)
        return None


def make_handler(viewer: JobViewer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "looplab-view"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            return

        def _send(self, body: str | bytes, ctype: str = "text/html; charset=utf-8", code: int = 200) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _json(self, obj: Any) -> None:
            self._send(json.dumps(obj, default=str), "application/json")

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlsplit(self.path)
            q = parse_qs(url.query)
            path = unquote(url.path)
            try:
                if path in ("/", "/index.html"):
                    v, rep, trials = viewer.state()
                    return self._send(render_report_html(rep, trials, live=True, version=v))
                if path == "/api/state":
                    v, rep, trials = viewer.state()
                    if q.get("v", [""])[0] == v:
                        return self._json({"version": v, "changed": False})
                    return self._json(
                        {
                            "version": v,
                            "changed": True,
                            "sections": render_sections(rep, trials, lambda n: f"/trial/{n}"),
                        }
                    )
                if path == "/api/report.json":
                    return self._json(viewer.state()[1])
                if path.startswith("/trial/"):
                    t = viewer.trial(path[len("/trial/") :])
                    if t is None:
                        return self._send("no such trial", "text/plain", HTTPStatus.NOT_FOUND)
                    v, rep, _ = viewer.state()
                    return self._send(render_trial_page(t, rep, version=v))
                if path.startswith("/api/trial/"):
                    return self._trial_update(path[len("/api/trial/") :], q)
                if path == "/favicon.ico":
                    return self._send(b"", "image/x-icon", HTTPStatus.NO_CONTENT)
            except (BrokenPipeError, ConnectionResetError):
                return None
            return self._send("not found", "text/plain", HTTPStatus.NOT_FOUND)

        def _trial_update(self, name: str, q: dict[str, list[str]]) -> None:
            t = viewer.trial(name)
            if t is None:
                return self._send("no such trial", "text/plain", HTTPStatus.NOT_FOUND)
            try:
                after = int(q.get("after", ["0"])[0])
            except ValueError:
                after = 0
            new = [e for e in read_jsonl(t.paths.trajectory) if int(e.get("step") or 0) > after]
            out: dict[str, Any] = {
                "status": t.status,
                "after": max([after] + [int(e.get("step") or 0) for e in new]),
                "events_html": "".join(render_event(e) for e in new),
                "changed": False,
            }
            v, rep, _ = viewer.state()
            out["version"] = v
            if q.get("v", [""])[0] != v:
                out["changed"] = True
                out["sections"] = trial_sections(t, rep)
            return self._json(out)

    return Handler


def serve(
    job_dirs: list[Path], port: int = 8765, settings: FailureSettings | None = None
) -> ThreadingHTTPServer:
    """Create the viewer's server on 127.0.0.1 (``port`` 0 picks a free one); call ``serve_forever``."""
    viewer = JobViewer(job_dirs, settings)
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(viewer))
    server.daemon_threads = True
    return server
