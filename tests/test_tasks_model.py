"""task.toml loading: every Harbor/AutoLab field, unknown keys as warnings, clear one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from looplab.errors import LooplabError
from looplab.tasks.loader import discover_tasks, load_task

AUTOLAB_TOML = """
version = "1.0"
schema_version = 2

[metadata]
author_name = "someone"
difficulty = "hard"
category = "systems"
tags = ["c", "simd"]

[agent]
timeout_sec = 7200.0

[verifier]
timeout_sec = 1800.0

[verifier.env]
SEED_SALT = 42

[environment]
cpus = 2
memory_mb = 8192
storage_mb = "10G"
gpus = 0
allow_internet = false
network_mode = "none"
build_timeout_sec = 900

[optimization]
metric = "time_ms"
direction = "minimize"

[optimization.baseline]
score = 2100.5
method = "naive"

[optimization.reference]
score = 70.0
method = "tiled + SIMD"

[harbor_future_section]
whatever = 1
"""


def make_task(tmp_path: Path, toml: str, with_tests: bool = True) -> Path:
    d = tmp_path / "t"
    (d / "environment").mkdir(parents=True)
    (d / "environment" / "Dockerfile").write_text("FROM debian\nWORKDIR /app\n")
    (d / "instruction.md").write_text("do it")
    if with_tests:
        (d / "tests").mkdir()
        (d / "tests" / "test.sh").write_text("echo 1 > /logs/verifier/reward.txt\n")
    (d / "task.toml").write_text(toml)
    return d


def test_autolab_task_toml_loads_with_all_fields(tmp_path: Path) -> None:
    t = load_task(make_task(tmp_path, AUTOLAB_TOML))
    c = t.config
    assert c.schema_version == "2"
    assert c.agent.timeout_sec == 7200.0
    assert c.verifier.env == {"SEED_SALT": "42"}
    assert c.environment.cpus == 2 and c.environment.memory_mb == 8192
    assert c.environment.storage_mb == 10 * 1024
    assert c.environment.network_mode == "no-network" and c.environment.allow_internet is False
    assert c.optimization is not None and c.optimization.direction == "lower"
    assert c.optimization.baseline is not None and c.optimization.baseline.score == 2100.5
    assert c.metadata["tags"] == ["c", "simd"]
    assert any("harbor_future_section" in w for w in t.warnings)
    assert c.looplab.editable == [] and c.looplab.measure == "reported"


def test_unknown_key_inside_known_section_is_kept_and_warned(tmp_path: Path) -> None:
    t = load_task(make_task(tmp_path, '[agent]\ntimeout_sec = 10\nmystery = "x"\n'))
    assert t.config.agent.model_extra == {"mystery": "x"}
    assert any("agent.mystery" in w for w in t.warnings)


@pytest.mark.parametrize(
    ("toml", "expect"),
    [
        ("[agent]\ntimeout_sec = -5\n", "field agent.timeout_sec"),
        ("[agent\ntimeout_sec = 5\n", "not valid TOML"),
        ('[optimization]\ndirection = "sideways"\n', "field optimization.direction"),
        ('[environment]\ncpus = "many"\n', "field environment.cpus"),
        ('[looplab]\neditable = ["../etc/passwd"]\n', "looplab.editable"),
    ],
)
def test_malformed_task_toml_is_one_clear_line(tmp_path: Path, toml: str, expect: str) -> None:
    with pytest.raises(LooplabError) as ei:
        load_task(make_task(tmp_path, toml))
    msg = str(ei.value)
    assert "task.toml" in msg and expect in msg and "\n" not in msg


def test_missing_test_sh_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LooplabError, match=r"missing tests/test.sh"):
        load_task(make_task(tmp_path, "", with_tests=False))


def test_discover_tasks_in_a_folder_of_tasks(tmp_path: Path) -> None:
    make_task(tmp_path, "")
    shutil.copytree(tmp_path / "t", tmp_path / "u")
    assert [p.name for p in discover_tasks([tmp_path])] == ["t", "u"]
    with pytest.raises(LooplabError):
        discover_tasks([tmp_path / "nope"])
