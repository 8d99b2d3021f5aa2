"""Compose environments, run for real: each sidecar in its own sandbox on its own image (built
or pulled from the 127.0.0.1 registry stand-in), all in one private network namespace per trial
with the service names in /etc/hosts; depends_on conditions and healthchecks; the services'
records; no route to the host's network, none between two trials; MCP servers looplab starts;
unsupported compose keys refused in one line and reported by ``tasks lint``.
"""

from __future__ import annotations

import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from conftest import FIXTURES, run_cli, run_job, trial_results

from looplab.environment.build import build_environment, set_build_options
from looplab.errors import LooplabError
from looplab.harbor.services import TrialServices
from looplab.tasks.loader import load_task


def _task(tmp_path: Path) -> Path:
    task = tmp_path / "compose"
    shutil.copytree(FIXTURES / "harbor" / "compose", task)
    return task


def _image_args(registry) -> list[str]:  # noqa: ANN001
    return ["--image-map", f"python:3.11-bookworm={registry.ensure('python')}"]


def test_oracle_reaches_its_sidecars_by_name_and_nop_fails(tmp_path: Path, image_registry) -> None:
    task, jobs = _task(tmp_path), tmp_path / "jobs"
    r = run_job(task, jobs, "oracle", "nop", extra=_image_args(image_registry), timeout=900)
    results = {res["agent"]: res for res in trial_results(jobs / "j")}
    assert set(results) == {"oracle", "nop"}, r.stderr + r.stdout
    ok, nop = results["oracle"], results["nop"]
    assert ok["status"] == "completed" and ok["reward"] == 1.0, ok
    extra = ok["verifier_result"]["extra"]
    # the verifier (in main) reached api by name, api reached files by name, api ran in its working_dir
    assert extra["api_greeting"] == "hello from api"  # ${LOOPLAB_TEST_GREETING:-hello from api}
    assert extra["files_via_api"] == "served-by-files"
    assert extra["api_cwd"] == "/srv"
    assert extra["api_outside"].startswith("unreachable"), extra  # a sidecar has no route out
    # a named volume shared by main (the agent wrote it) and api; a task file mounted read-only
    assert extra["api_shared"] == "agent-was-here"
    assert (
        extra["api_motd"] == "mounted read-only from environment/api" and extra["api_motd_writable"] is False
    )
    # Harbor's hello-mcp layout: the MCP server sidecar (its Dockerfile's CMD) at the URL task.toml names
    assert extra["mcp_answer"] == "mcp-secret-42 from 0.0.0.0:8000"
    assert ok["agent_result"]["agent_config"]["mcp_servers"] == ["mcp-server"]
    assert nop["reward"] == 0.0 and nop["status"] == "completed", nop
    # a collect hook ran in the api sidecar, and an artifact was copied out of it
    trial = jobs / "j" / ok["trial_name"]
    (hook,) = ok["agent_result"]["collect"]
    assert hook["service"] == "api" and hook["exit_code"] == 0
    assert (trial / "artifacts" / "collected.txt").read_text() == "mounted read-only from environment/api\n"
    manifest = {e["source"]: (e["service"], e["status"]) for e in ok["artifacts"]}
    assert manifest == {"/srv/collected.txt": ("api", "ok"), "/app/answer.txt": ("main", "ok")}
    for res in (ok, nop):
        recs = {s["name"]: s for s in res["services"]}
        # started in dependency order, each at its own address
        assert list(recs) == ["files", "seed", "api", "mcp-server"]
        assert [recs[n]["address"] for n in recs] == ["127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"]
        # seed ran to completion before api started (service_completed_successfully); the others
        # were stopped at the trial's end while still serving; api's healthcheck passed (main waited)
        assert recs["seed"]["state"] == "exited" and recs["seed"]["exit_code"] == 0
        # no command in the file: api runs its Dockerfile's CMD, seed its image's Cmd (/bin/bash,
        # which exits at once without input), files what the file gives
        assert recs["api"]["command"] == ["python3", "server.py"] and recs["seed"]["command"] == ["/bin/bash"]
        assert recs["seed"]["finished_at"] <= recs["api"]["started_at"]
        assert all(
            recs[n]["state"] == "stopped" and recs[n]["exit_code"] is None
            for n in ("files", "api", "mcp-server")
        )
        assert recs["api"]["healthcheck"]["healthy"]
        assert recs["files"].get("healthcheck") is None
        trial = jobs / "j" / res["trial_name"]
        assert "api listening on 8080" in (trial / "services" / "api" / "output.log").read_text()
        assert [h["service"] for h in res["agent_result"]["services_health"]] == ["api", "mcp-server"]
    # rescoring would run test.sh without the sidecars: refused in one line
    r = run_cli("rescore", str(jobs / "j" / ok["trial_name"]))
    assert r.returncode != 0 and "rescoring its checkpoints without them is not supported" in r.stderr


def _http_server() -> tuple[HTTPServer, int]:
    class H(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"host")

        def log_message(self, *a: object) -> None:
            pass

    srv = HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


def test_no_route_to_the_host_nor_between_two_trials(tmp_path: Path, image_registry) -> None:
    set_build_options("image", [f"python:3.11-bookworm={image_registry.ensure('python')}"], None)
    task = load_task(_task(tmp_path))
    env = build_environment(task)
    srv, port = _http_server()
    probe = "import socket,sys\ntry:\n socket.create_connection((sys.argv[1], int(sys.argv[2])), 3).close(); print('open')\nexcept OSError as e: print('closed', e.errno)\n"  # noqa: E501
    try:
        with (
            TrialServices(task, env, tmp_path / "a") as a,
            TrialServices(task, env, tmp_path / "b") as b,
        ):
            api_a, api_b = a.services["api"].box, b.services["api"].box
            assert api_a is not None and api_b is not None

            def check(box, host: str, p: int) -> str:  # noqa: ANN001
                r = box.exec(["python3", "-c", probe, host, str(p)], timeout=30)
                return r.stdout.strip()

            # inside a trial: its own sidecars by name
            assert check(api_a, "files", 9000) == "open"
            # the host's 127.0.0.1 server is another loopback: not reachable from a service
            assert socket.create_connection(("127.0.0.1", port), 3)
            assert check(api_a, "127.0.0.1", port).startswith("closed")
            # each trial has its own api at the same address; a listener only b's api opens is
            # not seen from a
            api_b.exec("nohup python3 -m http.server 7777 >/dev/null 2>&1 &")
            assert _wait_open(api_b, check, 7777)
            assert check(api_a, "127.0.0.4", 7777).startswith("closed")
            assert check(api_a, "1.1.1.1", 80).startswith("closed")
        recs = a.records
        assert {r["name"]: r["state"] for r in recs} == {
            "files": "stopped",
            "seed": "exited",
            "api": "stopped",
            "mcp-server": "stopped",
        }
    finally:
        srv.shutdown()


def _wait_open(box, check, port: int) -> bool:  # noqa: ANN001
    import time

    for _ in range(50):
        if check(box, "127.0.0.1", port) == "open":
            return True
        time.sleep(0.2)
    return False


BAD_KEYS = """\
services:
  main:
    command: sleep infinity
  db:
    image: postgres:latest
    command: postgres
    privileged: true
    cap_add: [NET_ADMIN]
networks:
  back: {}
"""


def test_unsupported_keys_are_linted_each_and_refused_in_one_line(tmp_path: Path) -> None:
    task = _task(tmp_path)
    compose = task / "environment" / "docker-compose.yaml"
    compose.write_text(BAD_KEYS)
    r = run_cli("tasks", "lint", str(task))
    assert r.returncode == 1
    lines = r.stdout.strip().splitlines()
    fields = [ln.split(": ")[1] for ln in lines]
    assert fields == ["networks", "services.main.command", "services.db.privileged", "services.db.cap_add"]
    assert all(ln.startswith(f"{compose}: ") and "not supported" in ln for ln in lines)
    assert "never get privileges" in lines[2] and "the agent and the verifier run there" in lines[1]
    r = run_cli("run", "-p", str(task), "-a", "nop", "--jobs-dir", str(tmp_path / "jobs"), timeout=120)
    assert r.returncode != 0
    err = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].endswith(
        f"{compose}: networks: not supported (top-level networks, configs and secrets are not supported)"
    ), err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "services:\n  a:\n    image: x:1\n    command: [run]\n    depends_on: [ghost]\n",
            "services.a.depends_on: 'ghost' is not a sidecar service",
        ),
        (
            "services:\n  a:\n    image: x:1\n    command: [run]\n    depends_on: [b]\n"
            "  b:\n    image: x:1\n    command: [run]\n    depends_on: [a]\n",
            "a dependency cycle: a -> b -> a",
        ),
        (
            "services:\n  a:\n    image: x:1\n    command: [run]\n    expose: [80]\n"
            "  b:\n    image: x:1\n    command: [run]\n    expose: ['80/tcp']\n",
            "services.b.expose: port 80 is also",
        ),
        (
            "services:\n  a:\n    image: x:1\n    command: [run]\n    expose: [80]\n"
            "  b:\n    image: x:1\n    command: [run]\n    ports: ['8080:80']\n",
            "services.b.ports: port 80 is also",
        ),
        (
            "services:\n  a:\n    image: x:1\n    command: [run]\n    ports: ['80:http']\n",
            "services.a.ports: '80:http': expected [IP:][HOST:]CONTAINER",
        ),
        (
            "services:\n  a:\n    image: x:1\n    command: [run]\n    restart: sometimes\n",
            "services.a.restart: 'sometimes': one of no, always, unless-stopped, on-failure[:N]",
        ),
        (
            "services:\n  a:\n    image: x:1\n    command: [run]\n    tmpfs: ['/run:noexec']\n",
            "option 'noexec' is not supported",
        ),
        (
            "services:\n  main:\n    restart: always\n",
            "services.main.restart: not supported (the main service",
        ),
        ("services:\n  a:\n    build: ./nowhere\n    command: [run]\n", "services.a.build: no Dockerfile"),
        (
            "services:\n  a:\n    build: ../..\n    command: [run]\n",
            "services.a.build.context: '../..' is outside",
        ),
        (
            "services:\n  main:\n    image: python:3.11\n",
            "services.main.image: the main service is the task's",
        ),
        (
            "services:\n  a:\n    image: x:1\n    command: [run]\n    healthcheck:\n      test: [CMD, t]\n"
            "      interval: 5 minutes\n",
            "bad duration '5 minutes'",
        ),
        (
            "services:\n  a:\n    image: ${NO_SUCH_LOOPLAB_VAR}\n    command: [run]\n",
            "services.a.image: ${NO_SUCH_LOOPLAB_VAR} is not set on the host",
        ),
        (
            "services:\n  a:\n    image: x:1\n    command: [run]\n    volumes: ['/var/lib/x:/data']\n",
            "services.a.volumes[0]: '/var/lib/x': only paths under environment/ are mounted",
        ),
        (
            "services:\n  a:\n    image: x:1\n    command: [run]\n    volumes: ['${CONTEXT_DIR}/../x:/x']\n",
            "only paths under environment/ are mounted",
        ),
        (
            "services:\n  a:\n    image: x:1\n    command: [run]\n    volumes: ['data:/data']\n",
            "services.a.volumes[0]: volume 'data' is not declared",
        ),
        (
            "services:\n  a:\n    image: x:1\n    command: [run]\n    volumes: ['./nothing.txt:/n:ro']\n",
            "'./nothing.txt': no such file under environment/",
        ),
        (
            "services:\n  a:\n    image: x:1\n    command: [run]\nvolumes:\n  d: {external: true}\n",
            "volumes.d.external: unknown key",
        ),
        (
            "services:\n  a:\n    image: x:1\n    command: [run]\n    depends_on:\n      b: {condition: started}\n",
            "services.a.depends_on.b.condition",
        ),
    ],
)
def test_bad_compose_values_are_refused_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    task = _task(tmp_path)
    compose = task / "environment" / "docker-compose.yaml"
    compose.write_text(text)
    with pytest.raises(LooplabError) as exc:
        load_task(task)
    assert str(exc.value).startswith(f"{compose}: ") and message in str(exc.value), exc.value
    assert "\n" not in str(exc.value)


def test_url_mcp_servers_with_a_command_are_started_and_reached(tmp_path: Path) -> None:
    task = tmp_path / "mcp_services"
    shutil.copytree(FIXTURES / "harbor" / "mcp_services", task)
    jobs = tmp_path / "jobs"
    r = run_job(task, jobs, "oracle", "nop", extra=["--base", "host"], timeout=600)
    results = {res["agent"]: res for res in trial_results(jobs / "j")}
    assert set(results) == {"oracle", "nop"}, r.stderr + r.stdout
    ok, nop = results["oracle"], results["nop"]
    assert ok["reward"] == 1.0, ok
    assert ok["verifier_result"]["extra"]["clock"] == "mcp-secret-42 from 127.0.0.1:8766"
    assert nop["reward"] == 0.0
    recs = {s["name"]: s for s in ok["services"]}
    assert set(recs) == {"notes", "clock"}  # the stdio server is the agent's to spawn
    assert all(s["kind"] == "mcp" and s["state"] == "stopped" and "ready_after_s" in s for s in recs.values())
    assert recs["notes"]["source"] == "python3 /opt/mcp/server.py 0.0.0.0 8765"
    trial = jobs / "j" / ok["trial_name"]
    log = (trial / "services" / "notes" / "output.log").read_text().splitlines()
    assert log[0] == "listening on 0.0.0.0:8765" and '"POST /mcp HTTP/1.1" 200' in log[1], log
    mcp = ok["agent_result"]["agent_config"]["mcp_servers"]
    assert mcp == ["notes", "clock", "local"]


def test_an_mcp_server_that_exits_fails_the_trial_in_one_line(tmp_path: Path) -> None:
    task = tmp_path / "mcp_services"
    shutil.copytree(FIXTURES / "harbor" / "mcp_services", task)
    toml = task / "task.toml"
    toml.write_text(toml.read_text().replace('"0.0.0.0", "8765"', '"0.0.0.0", "not-a-port"'))
    jobs = tmp_path / "jobs"
    run_job(task, jobs, "nop", extra=["--base", "host"], timeout=300)
    (res,) = trial_results(jobs / "j")
    assert res["status"] == "agent_error" and res["reward"] is None
    assert "mcp_servers 'notes': its command exited 1" in res["exception_info"]["message"]
    (rec,) = [s for s in res["services"] if s["name"] == "notes"]
    assert rec["state"] == "exited" and rec["exit_code"] == 1


def _processes_with(token: str) -> list[str]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if token in cmd and "pytest" not in cmd:
                out.append(f"{p.name}: {cmd}")
    return out


def test_ctrl_c_stops_every_service_and_records_them(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import time
    import uuid

    from conftest import LOOPLAB

    task = tmp_path / "mcp_services"
    shutil.copytree(FIXTURES / "harbor" / "mcp_services", task)
    token = f"svc-token-{uuid.uuid4().hex[:8]}"
    toml = task / "task.toml"
    toml.write_text(toml.read_text().replace('"0.0.0.0", "8765"', f'"0.0.0.0", "8765", "{token}"'))
    script = tmp_path / "agent.sh"
    script.write_text("#!/bin/sh\nsleep 120\n")
    jobs = tmp_path / "jobs"
    args = [
        "run",
        "-p",
        str(task),
        "-a",
        "command",
        "--ak",
        f"script={script}",
        "--jobs-dir",
        str(jobs),
        "--job-name",
        "j",
        "--base",
        "host",
    ]
    proc = subprocess.Popen(
        [*LOOPLAB, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    t0 = time.monotonic()
    while not _processes_with(token):
        assert proc.poll() is None and time.monotonic() - t0 < 120, proc.communicate()
        time.sleep(0.2)
    while not list(jobs.glob("j/*/agent/trajectory.jsonl")):
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert _processes_with(token) == []
    (res,) = trial_results(jobs / "j")
    assert res["status"] == "cancelled"
    assert {s["name"]: s["state"] for s in res["services"]} == {"notes": "stopped", "clock": "stopped"}


def test_without_root_a_shared_network_namespace_is_refused_in_one_line() -> None:
    import subprocess
    import sys

    code = (
        "from looplab.errors import LooplabError\nfrom looplab.sandbox.netns import NetNamespace\n"
        "try:\n    NetNamespace().start()\nexcept LooplabError as e:\n    print(e)\n"
    )
    r = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert r.stdout.strip().startswith("compose environments need looplab to run as root"), (
        r.stdout + r.stderr
    )
    assert len(r.stdout.strip().splitlines()) == 1


def test_a_dockerfile_command_is_resolved_stage_by_stage(tmp_path: Path) -> None:
    from looplab.environment.registry import RegistryOptions
    from looplab.harbor.service_images import dockerfile_command

    df = tmp_path / "Dockerfile"
    df.write_text(
        'FROM scratch AS base\nENTRYPOINT ["/srv/run"]\nCMD ["--fast"]\n'
        'FROM base AS mid\nCMD ["--slow"]\nFROM mid\nRUN true\n'
    )
    assert dockerfile_command(df, RegistryOptions()) == (["/srv/run"], ["--slow"])
    # ENTRYPOINT clears the CMD a stage inherits; the shell form runs under /bin/sh -c
    df.write_text('FROM scratch AS a\nCMD ["x"]\nFROM a\nENTRYPOINT python3 -m srv\n')
    assert dockerfile_command(df, RegistryOptions()) == (["/bin/sh", "-c", "python3 -m srv"], None)
    df.write_text('FROM scratch\nCMD python3 app.py\nENTRYPOINT ["tini", "--"]\n')
    assert dockerfile_command(df, RegistryOptions()) == (["tini", "--"], ["/bin/sh", "-c", "python3 app.py"])


def test_a_sidecar_that_never_turns_healthy_stops_the_trial_before_the_agent(
    tmp_path: Path, image_registry
) -> None:
    task, jobs = _task(tmp_path), tmp_path / "jobs"
    compose = task / "environment" / "docker-compose.yaml"
    text = compose.read_text()
    start = text.index('    healthcheck:\n      test: ["CMD", "python3"')
    end = text.index("\n  files:\n") + 1
    compose.write_text(
        text[:start]
        + '    healthcheck:\n      test: ["CMD-SHELL", "exit 3"]\n      interval: 100ms\n      retries: 2\n'
        + text[end:]
    )
    run_job(task, jobs, "oracle", extra=_image_args(image_registry), timeout=600)
    (res,) = trial_results(jobs / "j")
    assert res["status"] == "agent_error" and res["reward"] is None
    assert res["exception_info"]["type"] == "HealthcheckFailed"
    assert "services.api.healthcheck: 'exit 3' failed 2 times in a row" in res["exception_info"]["message"]
    recs = {s["name"]: s for s in res["services"]}
    assert recs["api"]["state"] == "stopped" and "healthcheck" not in recs["api"]
    assert res["agent_result"] is None  # the agent never started


RESTART_PORTS_TMPFS = """\
services:
  main:
    tmpfs: /cache
  flaky:
    image: python:3.11-bookworm
    command: ["/bin/sh", "-c", "echo run >> /state/runs; [ $$(wc -l < /state/runs) -ge 3 ] && exec python3 -m http.server 8080; exit 3"]
    restart: on-failure:5
    ports: ["18080:8080"]
    tmpfs: ["/scratch:size=1m,mode=1770"]
    volumes: [state:/state]
  gives-up:
    image: python:3.11-bookworm
    command: ["/bin/sh", "-c", "exit 4"]
    restart: on-failure:2
  done:
    image: python:3.11-bookworm
    command: ["/bin/true"]
    restart: on-failure
volumes:
  state: {}
"""  # noqa: E501


def test_restart_ports_and_tmpfs(tmp_path: Path, image_registry) -> None:
    """``restart``: a sidecar that exits is run again as its policy says (on-failure:N at most N times,
    never after a clean exit), recorded; ``ports``: reached by name at the container port, nothing
    published; ``tmpfs``: an empty tmpfs at each path (main's in the agent's sandbox), size and mode
    as given."""
    import time

    from looplab.sandbox.base import SandboxSpec
    from looplab.sandbox.factory import make_sandbox

    set_build_options("image", [f"python:3.11-bookworm={image_registry.ensure('python')}"], None)
    task_dir = tmp_path / "svc"
    (task_dir / "environment").mkdir(parents=True)
    (task_dir / "tests").mkdir()
    (task_dir / "environment" / "Dockerfile").write_text("FROM python:3.11-bookworm\nWORKDIR /app\n")
    (task_dir / "environment" / "docker-compose.yaml").write_text(RESTART_PORTS_TMPFS)
    (task_dir / "task.toml").write_text('[environment]\nnetwork_mode = "no-network"\n')
    (task_dir / "instruction.md").write_text("x\n")
    (task_dir / "tests" / "test.sh").write_text("#!/bin/sh\n")
    task = load_task(task_dir)
    env = build_environment(task)
    probe = "import socket,sys\ntry:\n socket.create_connection((sys.argv[1], int(sys.argv[2])), 3).close(); print('open')\nexcept OSError as e: print('closed', e.errno)\n"  # noqa: E501
    with TrialServices(task, env, tmp_path / "out") as svcs:
        spec = SandboxSpec(root=env.root, workdir="/app", name="agent-restart-test")
        svcs.join(spec)  # as the agent's sandbox joins: main's tmpfs and the trial's network
        with make_sandbox(spec) as main:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                r = main.exec(["python3", "-c", probe, "flaky", "8080"], timeout=30)
                if r.stdout.strip() == "open":
                    break
                time.sleep(0.3)
            assert r.stdout.strip() == "open", r.stdout + r.stderr
            # the published host port is not opened, inside the trial nor on the host
            assert main.exec(["python3", "-c", probe, "flaky", "18080"], timeout=30).stdout.startswith(
                "closed"
            )
            cache = main.exec("stat -f -c %T /cache && stat -c %a /cache", timeout=30).stdout.split()
            assert cache == ["tmpfs", "1777"]
        flaky = svcs.services["flaky"].box
        assert flaky is not None
        scratch = flaky.exec("stat -f -c %T /scratch && stat -c %a /scratch", timeout=30).stdout.split()
        assert scratch == ["tmpfs", "1770"]
        big = flaky.exec("head -c 2000000 /dev/zero > /scratch/big", timeout=30)
        assert big.exit_code != 0  # size=1m
        gives_up = svcs.services["gives-up"].thread
        assert gives_up is not None
        gives_up.join(30)
    recs = {r["name"]: r for r in svcs.records}
    assert recs["flaky"]["restart"] == "on-failure:5" and recs["flaky"]["restarts"] == 2
    assert recs["flaky"]["exit_codes"] == [3, 3] and recs["flaky"]["state"] == "stopped"
    assert recs["flaky"]["ports"] == [{"target": 8080, "published": "18080", "protocol": "tcp"}]
    assert recs["flaky"]["published_on_host"] is False
    assert recs["gives-up"]["restarts"] == 2 and recs["gives-up"]["exit_codes"] == [4, 4, 4]
    assert recs["gives-up"]["state"] == "exited" and recs["gives-up"]["exit_code"] == 4
    assert recs["done"]["restarts"] == 0 and recs["done"]["exit_codes"] == [0]
    assert (tmp_path / "out" / "flaky" / "output.log").is_file()
