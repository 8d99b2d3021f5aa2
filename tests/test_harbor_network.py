"""Harbor's network policies, enforced: per phase, through the host-side egress proxy only.

The outside world is an HTTP server on 127.0.0.1 that the sandboxes cannot reach directly
(their network namespace holds only loopback); the task's allowlists let the agent fetch
the answer and the verifier reach its grader through the proxy, a second server on the
allowlist of neither is refused, and ``--network deny`` takes it all away. Real runs.
"""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import FIXTURES, run_cli, trial_results

from looplab.netpolicy import resolve_network
from looplab.tasks.model import TaskConfig

TASK = FIXTURES / "harbor" / "network_policy"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        u = urlsplit(self.path)
        self.server.seen.append(u.path)  # type: ignore[attr-defined]
        body = b"42" if u.path == "/answer" else b"ok" if parse_qs(u.query).get("answer") == ["42"] else b"no"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _server() -> ThreadingHTTPServer:
    s = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    s.seen = []  # type: ignore[attr-defined]
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s


@pytest.fixture(scope="module")
def servers():
    main, other = _server(), _server()
    yield main, other
    for s in (main, other):
        s.shutdown()


def _task(tmp: Path, main: ThreadingHTTPServer, other: ThreadingHTTPServer) -> Path:
    task = tmp / "network_policy"
    shutil.copytree(TASK, task)
    for p in task.rglob("*"):
        if p.is_file():
            text = p.read_text()
            text = text.replace("@SERVER@", f"127.0.0.1:{main.server_address[1]}")
            p.write_text(text.replace("@OTHER@", f"127.0.0.1:{other.server_address[1]}"))
    return task


def _run(tmp: Path, task: Path, job: str, *extra: str) -> dict:
    r = run_cli(
        "run",
        "-p",
        str(task),
        "-a",
        "oracle",
        "--jobs-dir",
        str(tmp / "jobs"),
        "--job-name",
        job,
        "--base",
        "host",
        "--editable",
        "answer.txt",
        *extra,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr + r.stdout
    (res,) = trial_results(tmp / "jobs" / job)
    return res


def test_policy_resolution_per_phase() -> None:
    cfg = TaskConfig.model_validate(
        {
            "environment": {"network_mode": "public"},
            "verifier": {"network_mode": "no-network"},
            "agent": {"allowed_hosts": ["pypi.org"]},
        }
    )
    assert resolve_network(cfg, "agent").mode == "public"  # allowed_hosts alone: no allowlist
    assert resolve_network(cfg, "verifier").mode == "no-network"
    assert resolve_network(cfg, "agent", "deny").source == "override"
    old = TaskConfig.model_validate({"environment": {"allow_internet": False}})
    assert resolve_network(old, "agent").mode == resolve_network(old, "verifier").mode == "no-network"
    allow = TaskConfig.model_validate({"environment": {"network_mode": "allowlist"}})
    assert resolve_network(allow, "verifier").allowed_hosts == []  # an empty allowlist denies all
    harbor = TaskConfig.model_validate({})
    assert resolve_network(harbor, "verifier").mode == "public"  # Harbor's default
    native = TaskConfig.model_validate({"looplab": {"editable": ["x"]}})
    assert resolve_network(native, "agent").mode == "no-network"  # looplab's own tasks: deny
    with pytest.raises(ValueError, match="must be one of"):
        TaskConfig.model_validate({"environment": {"network_mode": "sometimes"}})


def test_allowlists_hold_through_the_proxy(tmp_path: Path, servers) -> None:
    main, other = servers
    task = _task(tmp_path, main, other)
    res = _run(tmp_path, task, "task")
    assert res["reward"] == 1.0, res["verifier_result"]
    trial = tmp_path / "jobs" / "task" / res["trial_name"]
    probe = json.loads((trial / "agent" / "sandbox-logs" / "probe.json").read_text())
    assert probe["answer"] == "42"
    assert probe["other"].startswith("failed") and "403" in probe["other"]  # not on the allowlist
    assert probe["direct"].startswith("failed")  # no way out but the proxy
    port, other_port = main.server_address[1], other.server_address[1]
    net = res["agent_result"]["network"]
    assert net["mode"] == "allowlist" and net["allowed_hosts"] == [f"127.0.0.1:{port}"]
    dests = {(d["destination"], d["allowed"]) for d in net["destinations"]}
    assert dests == {(f"127.0.0.1:{port}", True), (f"127.0.0.1:{other_port}", False)}
    log = [json.loads(x) for x in (trial / "agent" / "network.jsonl").read_text().splitlines()]
    assert {e["port"] for e in log} == {port, other_port}
    vnet = res["verifier_result"]["network"]
    assert vnet["mode"] == "allowlist" and vnet["destinations"][0]["allowed"] is True
    assert (trial / "verifier" / "network.jsonl").is_file()
    assert "/answer" not in other.seen  # the refused request never left the host


def test_network_deny_overrides_and_says_so(tmp_path: Path, servers) -> None:
    main, other = servers
    task = _task(tmp_path, main, other)
    before = len(main.seen)
    res = _run(tmp_path, task, "deny", "--network", "deny")
    vr = res["verifier_result"]
    assert res["reward"] == 0.0 and "--network deny" in (vr["reason"] or ""), vr["reason"]
    assert res["agent_result"]["network"]["source"] == "override"
    assert vr["network"]["mode"] == "no-network" and vr["network"]["destinations"] == []
    assert len(main.seen) == before  # nothing reached the outside world


def test_refused_destination_is_named_in_the_reason(tmp_path: Path, servers) -> None:
    main, other = servers
    task = _task(tmp_path, main, other)
    toml = (task / "task.toml").read_text()
    (task / "task.toml").write_text(
        toml.replace('allowed_hosts = ["http://', 'allowed_hosts = ["http://x.invalid/')
    )
    res = _run(tmp_path, task, "refused")
    vr = res["verifier_result"]
    assert res["reward"] == 0.0 and f"refused 127.0.0.1:{main.server_address[1]}" in (vr["reason"] or ""), vr
