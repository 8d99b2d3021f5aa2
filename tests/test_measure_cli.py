"""``looplab measure`` from the command line, as a verifier script would call it."""

from __future__ import annotations

import json

from conftest import run_cli

from looplab.hostinfo import machine_fingerprint as host_fingerprint_key


def test_pair_json_and_out_file(tmp_path):
    out = tmp_path / "pair.json"
    busy = "python3 -c 'import time; t=time.process_time(); exec(\"while time.process_time()-t<{}: pass\")'"
    r = run_cli(
        "measure",
        "pair",
        "--baseline",
        busy.format(0.1),
        "--candidate",
        busy.format(0.05),
        "--time-source",
        "cpu",
        "--min-pairs",
        "4",
        "--max-pairs",
        "6",
        "--warmup",
        "0",
        "--json",
        "--out",
        str(out),
        env={"LOOPLAB_LOCK_DIR": str(tmp_path / "locks")},
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert json.loads(out.read_text()) == data
    assert 4 <= data["pairs"] <= 6 and data["time_source"] == "cpu"
    assert 1.1 < data["speedup"] < 2.1  # python start-up CPU dilutes the 2x busy loop
    assert data["lock"]["lock_dir"] == str(tmp_path / "locks") and data["lock"]["available"]
    for key in (
        "ci_low",
        "ci_high",
        "rel_half_width",
        "precision_reached",
        "baseline",
        "candidate",
        "elapsed_s",
    ):
        assert key in data


def test_pair_human_output_says_whether_the_target_was_reached(tmp_path):
    r = run_cli(
        "measure",
        "pair",
        "-b",
        "true",
        "-c",
        "true",
        "--min-pairs",
        "2",
        "--max-pairs",
        "3",
        "--target",
        "0.000001",
        "--no-lock",
    )
    assert r.returncode == 0, r.stderr
    assert "speedup" in r.stdout and "NOT reached" in r.stdout and "lock" not in r.stdout


def test_a_failing_command_exits_non_zero_with_one_line():
    r = run_cli("measure", "pair", "-b", "true", "-c", "echo nope >&2; exit 4", "--no-lock")
    assert r.returncode != 0
    assert "candidate command exited 4" in r.stderr and "nope" in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_time_source_is_a_clear_error():
    r = run_cli("measure", "pair", "-b", "true", "-c", "true", "--time-source", "sundial")
    assert r.returncode != 0 and "--time-source" in r.stderr


def test_fingerprint_matches_what_trials_record():
    r = run_cli("measure", "fingerprint", "--json")
    assert r.returncode == 0, r.stderr
    fp = json.loads(r.stdout)
    assert fp["key"] == host_fingerprint_key()
    assert fp["cores"] >= 1 and fp["cpu_model"] and fp["kernel"]


def test_calibrate_refuses_a_reported_task(tiny_task):
    r = run_cli("calibrate", str(tiny_task))
    assert r.returncode != 0 and "looplab.measure" in r.stderr
