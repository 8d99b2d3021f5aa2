"""Go and Rust images: the toolchain the FROM image brings builds in RUN and in the unprivileged sandboxes (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli, trial_results
from test_images_build import build, in_sandbox, make_task

pytestmark = pytest.mark.slow

GO_MAIN = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello from go") }\n'
RUST_MAIN = 'fn main() { println!("hello from rust"); }\n'
CARGO = '[package]\nname = "hello"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n'


def test_go_image_builds_in_run_and_in_the_sandbox(tmp_path: Path, image_registry, monkeypatch) -> None:
    ref = image_registry.ensure("go")
    monkeypatch.setenv("LOOPLAB_IMAGE_MAP", f"golang:1.22-bookworm={ref}")
    dockerfile = "FROM golang:1.22-bookworm\nWORKDIR /app\nCOPY main.go go.mod ./\nRUN go build -o hello . && ./hello > built.txt\n"
    env = build(
        make_task(tmp_path / "t", dockerfile, {"main.go": GO_MAIN, "go.mod": "module hello\n\ngo 1.22\n"})
    )
    assert (env.root / "app" / "built.txt").read_text() == "hello from go\n"
    # the unprivileged sandbox rebuilds from the build's cache (copied: the image is read-only)
    cmd = "cp -r /app /tmp/w && cp -r /root/.cache/go-build /tmp/gocache && cd /tmp/w && GOCACHE=/tmp/gocache go build -o h2 . && ./h2"
    assert in_sandbox(env, cmd, timeout=600).strip() == "hello from go"


def test_rust_task_runs_end_to_end_with_cargo_in_the_verifier(tmp_path: Path, image_registry) -> None:
    ref = image_registry.ensure("rust")
    task = make_task(
        tmp_path / "suite" / "hello_rust",
        "FROM rust:1.82-slim\nWORKDIR /app\nCOPY Cargo.toml ./\nCOPY src ./src\nRUN cargo build --release\n",
        {"Cargo.toml": CARGO},
    )
    (task / "environment" / "src").mkdir()
    (task / "environment" / "src" / "main.rs").write_text(RUST_MAIN)
    (task / "tests" / "test.sh").write_text(
        "#!/bin/bash\ncd /app && cargo build --release --offline 2>&1 | tail -2\n"
        "if ./target/release/hello | grep -q 'hello from oracle'; then echo 1; else echo 0; fi > /logs/verifier/reward.txt\n"
    )
    (task / "solution").mkdir()
    (task / "solution" / "solve.sh").write_text(
        "#!/bin/bash\nsed -i 's/from rust/from oracle/' /app/src/main.rs\n"
    )
    jobs = tmp_path / "jobs"
    r = run_cli(
        "run",
        "-p",
        str(task),
        "-a",
        "oracle",
        "-a",
        "nop",
        "--jobs-dir",
        str(jobs),
        "--job-name",
        "j",
        "--editable",
        "src/main.rs",
        "--image-map",
        f"rust={ref}",
        timeout=1800,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    by = {x["agent"]: x for x in trial_results(jobs / "j")}
    assert by["oracle"]["reward"] == 1.0 and by["nop"]["reward"] == 0.0
