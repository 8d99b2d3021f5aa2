"""The slow catalog target: `looplab tasks check --all --run` on every catalog task (nop and oracle).

Takes about 20-25 minutes on a 2-core machine; run it with `bash scripts/test.sh slow`.
"""

from __future__ import annotations

import pytest
from conftest import run_cli

from looplab.job.gpus import gpu_shortfall
from looplab.tasks import load_task
from looplab.tasks.catalog import catalog_task_paths

pytestmark = pytest.mark.slow


@pytest.mark.timeout(3600)
def test_every_catalog_task_meets_its_targets(tmp_path):
    table = tmp_path / "catalog.md"
    r = run_cli(
        "tasks",
        "check",
        "--all",
        "--run",
        "--jobs-dir",
        str(tmp_path / "jobs"),
        "--write",
        str(table),
        timeout=3600,
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    rows = [
        line for line in table.read_text().splitlines() if line.startswith("| ") and "nop reward" not in line
    ]
    names = {row.split("|")[1].strip() for row in rows}
    # on a machine without a GPU, tasks check says the GPU tasks need one and runs only the others
    assert names == {p.name for p in catalog_task_paths() if not gpu_shortfall(load_task(p))}
    assert all(row.rstrip(" |").endswith("yes") for row in rows), table.read_text()
