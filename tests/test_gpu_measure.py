"""The trusted GPU timing driver (looplab.measure.gpu), run for real on the CPU path of the same code.

Real worker processes (jailed with bubblewrap where it runs), a real spec and real
programs: a slow correct one, a fast one, a wrong one, one that turns lazy once timed,
and one that forges driver replies and tries to write the reward.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from looplab.errors import LooplabError
from looplab.measure.gpu import GpuRunDeclaration, checksums_agree, load_declaration, measure
from tests.gpu_helpers import needs_gpu

FIX = Path(__file__).parent / "fixtures" / "gpu_measure"


def decl(candidate: str, **kw) -> GpuRunDeclaration:
    base = {
        "spec": str(FIX / "spec.py"),
        "baseline": str(FIX / "slow.py"),
        "candidate": str(FIX / candidate),
        "min_pairs": 4,
        "max_pairs": 6,
        "warmup": 1,
        "round_s": 0.2,
        "correctness_runs": 2,
        "check_fraction": 1.0,
    }
    return GpuRunDeclaration(**{**base, **kw})


def test_fast_program_is_faster_with_interval_and_cv() -> None:
    r = measure(decl("fast.py"), device="cpu", log=lambda m: None)
    assert r["correct"], r
    assert r["speedup"] > 1.5 and r["speedup_ci"][0] <= r["speedup"] <= r["speedup_ci"][1]
    assert r["pairs"] >= 4 and r["rounds_checked"] >= 1 and r["cv_baseline"] >= 0
    assert r["verification_s"] > 0


def test_baseline_against_itself_is_about_one() -> None:
    r = measure(decl("slow.py"), device="cpu", log=lambda m: None)
    assert r["correct"] and 0.5 < r["speedup"] < 2.0


def test_wrong_output_fails_the_elementwise_check() -> None:
    r = measure(decl("wrong.py"), device="cpu", log=lambda m: None)
    assert not r["correct"] and "candidate output wrong on check 0: output 0" in r["reason"]


def test_stale_outputs_in_timed_rounds_are_caught() -> None:
    r = measure(decl("lazy.py"), device="cpu", log=lambda m: None)
    assert not r["correct"] and r["reason"] == "candidate output wrong in a timed round (checksum differs)"


def test_forged_replies_and_reward_writes_do_not_count(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "reward.json"
    monkeypatch.setenv("FORGE_TARGET", str(target))
    r = measure(decl("forger.py"), device="cpu", log=lambda m: None)
    assert r["correct"] and r["speedup"] > 1.5  # its prints went to stderr; it was timed like any program
    assert r["jailed"] and not target.exists()


def test_no_jail_no_measurement(monkeypatch) -> None:
    """Where bubblewrap cannot be found the driver refuses (it once ran the workers unjailed)."""
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LooplabError, match="bubblewrap"):
        measure(decl("fast.py"), device="cpu", log=lambda m: None)


def test_checksum_tolerance() -> None:
    ref = [10.0, 2.0, 1.0]
    assert checksums_agree([10.0 + 1e-6, 0, 0], ref, (1e-6, 1e-5))
    assert not checksums_agree([10.5, 0, 0], ref, (1e-6, 1e-5))
    assert not checksums_agree([float("nan"), 0, 0], ref, (1e-6, 1e-5))
    assert not checksums_agree([], ref, (1e-6, 1e-5))


def test_bad_declaration_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "gpu.toml"
    p.write_text('spec = "/tests/spec.py"\nbaseline = "/orig/k.py"\nwarmpu = 3\n')
    with pytest.raises(LooplabError, match=str(p)) as e:
        load_declaration(p)
    assert "candidate" in str(e.value) and "\n" not in str(e.value)


def test_verify_cli_writes_reward(tmp_path: Path) -> None:
    d = tmp_path / "gpu.toml"
    d.write_text(
        f'spec = "{FIX / "spec.py"}"\nbaseline = "{FIX / "slow.py"}"\ncandidate = "{FIX / "fast.py"}"\n'
        "min_pairs = 3\nmax_pairs = 4\nwarmup = 1\nround_s = 0.02\ncorrectness_runs = 1\n"
    )
    out = tmp_path / "reward.json"
    cmd = [
        sys.executable,
        "-m",
        "looplab.measure.gpu",
        "verify",
        "--decl",
        str(d),
        "--out",
        str(out),
        "--s-ref",
        "4",
        "--device",
        "cpu",
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    data = json.loads(out.read_text())
    assert data["correct"] and data["reward"] > 0.25


@pytest.mark.gpu
@needs_gpu
def test_on_gpu_fast_beats_slow() -> None:
    r = measure(decl("fast.py", round_s=0.02), device="cuda", log=lambda m: None)
    assert r["correct"] and r["speedup"] > 1.5, r
