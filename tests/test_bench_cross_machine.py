"""bench/cross_machine.py: one small timed task verified once per agent, then compared.

The real script in a subprocess, on the declared fixture task (tests/fixtures/declared_speed,
about 30 s); its compare mode on the file it wrote and on a copy moved past the noise.
"""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import FIXTURES, REPO

from looplab.environment.build import scratch_dir
from looplab.fsutil import remove_tree

BENCH = REPO / "bench" / "cross_machine.py"


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=900)


def test_run_writes_a_file_keyed_by_the_machine_and_compare_tells_noise_from_a_difference() -> None:
    work = scratch_dir("test-cross-machine")
    try:
        task = FIXTURES / "declared_speed"
        r = _bench(
            "run", "--k", "1", "--tasks", str(task), "--out", str(work), "--jobs-dir", str(work / "jobs")
        )
        assert r.returncode == 0, r.stderr[-3000:]
        (out,) = work.glob("cross_machine-*.json")
        data = json.loads(out.read_text())
        assert out.name == f"cross_machine-{data['fingerprint']}.json" and data["k"] == 1
        row = data["tasks"]["declared_speed"]
        assert row["oracle"]["trials"] == row["nop"]["trials"] == 1
        assert row["nop"]["median"] == 0.0 and 0.0 < row["oracle"]["median"] < 1.0
        assert row["oracle"]["s_ref_source"] == ["same-run reference"]
        assert row["oracle"]["noise"] > 0  # half the width of the reward's interval
        assert out.with_suffix(".md").is_file()

        # collect: the same rows from the run's job folder (a run stopped part-way, or split)
        again = work / "collected"
        r = _bench("collect", "--jobs-dir", str(work / "jobs"), "--k", "1", "--out", str(again))
        assert r.returncode == 0, r.stderr[-3000:]
        (copy,) = again.glob("cross_machine-*.json")
        assert json.loads(copy.read_text())["tasks"] == data["tasks"]
        r = _bench("collect", "--jobs-dir", str(work / "jobs"), "--k", "2", "--out", str(again))
        assert r.returncode != 0 and "no finished cross-machine job" in r.stderr

        same = _bench("compare", str(out), str(out))
        assert same.returncode == 0, same.stdout + same.stderr
        assert "| declared_speed |" in same.stdout and "| yes |" in same.stdout

        moved = json.loads(out.read_text())
        o = moved["tasks"]["declared_speed"]["oracle"]
        o["median"] = o["median"] + 0.3
        o["noise"] = 0.01
        other = work / "other.json"
        other.write_text(json.dumps(moved))
        diff = _bench("compare", str(out), str(other), "--out", str(work / "cmp.json"))
        assert diff.returncode == 1, diff.stdout + diff.stderr
        (cmp_row,) = json.loads((work / "cmp.json").read_text())["rows"]
        assert abs(cmp_row["oracle"]["diff"] - 0.3) < 1e-9
        assert cmp_row["oracle"]["within_noise"] is False and cmp_row["meets_target"] is False

        bad = work / "bad.json"
        bad.write_text("{}")
        r = _bench("compare", str(out), str(bad))
        assert r.returncode != 0 and "not a cross_machine.py result" in r.stderr
    finally:
        remove_tree(work)
