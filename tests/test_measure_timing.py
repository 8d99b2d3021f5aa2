"""Paired timing with real programs: a C loop run N and 2N times, on the host and in a sandbox."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from looplab.fsutil import remove_tree
from looplab.measure.lock import MeasurementLock
from looplab.measure.runners import CPU_LINE_RE, CPU_WRAPPER, SandboxRunner, SubprocessRunner, TimedResult
from looplab.measure.timing import MeasurementFailed, PairedSettings, measure_pair, parse_reported_seconds
from looplab.sandbox.base import SandboxSpec
from looplab.sandbox.bwrap import BwrapSandbox

LOOP_SRC = Path(__file__).parent / "fixtures" / "paired_task" / "environment" / "loop.c"
N = 8_000_000  # ~8 ms of loop on these machines; the baseline does 2N


@pytest.fixture(scope="module")
def open_dir():
    """A folder the unprivileged sandbox user can traverse (pytest's tmp_path is private to root)."""
    d = Path(tempfile.mkdtemp(prefix="looplab-test-timing-", dir="/var/tmp"))
    d.chmod(0o755)
    yield d
    remove_tree(d)


@pytest.fixture(scope="module")
def loop_bin(open_dir) -> Path:
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    (open_dir / "bin").mkdir(mode=0o755)
    out = open_dir / "bin" / "loop"
    subprocess.run(["gcc", "-O2", "-o", str(out), str(LOOP_SRC)], check=True)
    return out


FAST = PairedSettings(warmup=1, min_pairs=10, max_pairs=25, max_seconds=20, target=0.02)


def test_self_timed_loop_ci_contains_the_true_ratio(loop_bin):
    st = FAST.model_copy(update={"time_source": "stdout", "confidence": 0.99})
    res = measure_pair(f"{loop_bin} {2 * N}", f"{loop_bin} {N}", SubprocessRunner(), st)
    assert res.ci_low <= 2.0 <= res.ci_high, res.summary()
    assert res.pairs >= 5 and len(res.ratios) == res.pairs == len(res.baseline.times_s)
    assert res.baseline.median_s > res.candidate.median_s
    assert res.stop_reason in ("precision", "max_pairs", "max_seconds")
    assert res.precision_reached == (res.stop_reason == "precision")
    if res.precision_reached:
        assert res.rel_half_width <= 0.02


def test_swapping_sides_inverts_the_speedup(loop_bin):
    st = FAST.model_copy(update={"time_source": "stdout", "confidence": 0.99})
    res = measure_pair(f"{loop_bin} {N}", f"{loop_bin} {2 * N}", SubprocessRunner(), st)
    assert res.ci_low <= 0.5 <= res.ci_high, res.summary()


def test_cpu_time_sees_the_speedup_diluted_by_start_up(loop_bin):
    """Whole-process CPU time includes start-up (shell, exec, loader), so the ratio is a bit under 2."""
    st = FAST.model_copy(update={"time_source": "cpu"})
    res = measure_pair(f"{loop_bin} {2 * N}", f"{loop_bin} {N}", SubprocessRunner(), st)
    assert 1.5 < res.speedup < 2.05, res.summary()
    assert res.time_source == "cpu"


def test_wall_time_sees_the_speedup(loop_bin):
    """Wall time also counts other processes' turns on the core: on a busy machine its pairs can
    be bimodal (one side shared the core, the other did not), so only the direction is certain."""
    st = FAST.model_copy(update={"time_source": "wall"})
    res = measure_pair(f"{loop_bin} {2 * N}", f"{loop_bin} {N}", SubprocessRunner(), st)
    assert res.speedup > 1.1 and res.ci_high > 1.5, res.summary()
    assert res.baseline.median_s > res.candidate.median_s


def test_identical_commands_stop_at_min_pairs_when_the_target_is_loose(loop_bin):
    st = PairedSettings(warmup=0, min_pairs=4, max_pairs=20, target=0.5, time_source="stdout")
    res = measure_pair(f"{loop_bin} {N}", f"{loop_bin} {N}", SubprocessRunner(), st)
    assert res.stop_reason == "precision" and res.pairs == 4
    # a 95% interval from 4 pairs misses the true 1.0 one time in twenty (CI on an Intel Xeon saw
    # [0.980, 0.995]): what is certain is that identical commands measure about the same
    assert abs(res.speedup - 1.0) < 0.1, res.summary()


def test_an_unreachable_target_stops_at_the_pair_cap(loop_bin):
    st = PairedSettings(warmup=0, min_pairs=3, max_pairs=6, target=1e-9, time_source="stdout")
    res = measure_pair(f"{loop_bin} {N}", f"{loop_bin} {N}", SubprocessRunner(), st)
    assert res.stop_reason == "max_pairs" and res.pairs == 6 and not res.precision_reached


def test_the_time_cap_stops_early(loop_bin):
    st = PairedSettings(warmup=0, min_pairs=2, max_pairs=1000, max_seconds=0.3, target=1e-9)
    res = measure_pair("sleep 0.05", "sleep 0.05", SubprocessRunner(), st)
    assert res.stop_reason == "max_seconds"
    assert res.pairs < 10
    assert res.elapsed_s < 1.0


class RecordingRunner(SubprocessRunner):
    """A real subprocess runner that also records the order commands ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    def run(self, command: str, timeout: float | None = None, measure_cpu: bool = False) -> TimedResult:
        self.order.append(command)
        return super().run(command, timeout, measure_cpu)


def test_pairs_interleave_and_alternate_order():
    runner = RecordingRunner()
    st = PairedSettings(warmup=1, min_pairs=4, max_pairs=4, target=1e-9)
    measure_pair("true A", "true B", runner, st)
    assert runner.order == ["true A", "true B"] + ["true A", "true B", "true B", "true A"] * 2


def test_a_failing_candidate_names_its_side():
    with pytest.raises(MeasurementFailed) as err:
        measure_pair("true", "echo boom >&2; exit 3", SubprocessRunner(), PairedSettings(warmup=0))
    assert err.value.side == "candidate"
    assert "exited 3" in str(err.value) and "boom" in str(err.value)


def test_a_run_over_its_timeout_fails():
    st = PairedSettings(warmup=0, run_timeout=0.3)
    with pytest.raises(MeasurementFailed, match="timed out") as err:
        measure_pair("sleep 10", "true", SubprocessRunner(), st)
    assert err.value.side == "baseline"


def test_stdout_mode_needs_a_number():
    st = PairedSettings(warmup=0, time_source="stdout")
    with pytest.raises(MeasurementFailed, match="not a number"):
        measure_pair("echo 0.1", "echo fast", SubprocessRunner(), st)


def test_parse_reported_seconds():
    assert parse_reported_seconds("warming up\n0.125\n\n") == 0.125
    assert parse_reported_seconds('log\n{"seconds": 2.5, "n": 3}\n') == 2.5
    assert parse_reported_seconds("time: 0.3") == 0.3
    for bad in ["", "nan", "-1", "0", '{"time": 1}']:
        with pytest.raises(ValueError):
            parse_reported_seconds(bad)


def test_the_lock_is_held_and_recorded(tmp_path):
    lock = MeasurementLock(lock_dir=tmp_path / "locks", label="timing test")
    res = measure_pair(
        "true", "true", SubprocessRunner(), PairedSettings(warmup=0, min_pairs=2, max_pairs=2), lock
    )
    assert res.lock is not None and res.lock.available
    assert res.lock.cores == lock.cores and res.lock.held_s > 0
    assert (tmp_path / "locks" / f"cpu{lock.cores[0]}.lock").exists()


def test_subprocess_runner_measures_cpu_time_of_descendants():
    busy = "python3 -c 'import time; t=time.process_time(); exec(\"while time.process_time()-t<0.15: pass\")'"
    r = SubprocessRunner().run(f"{busy}; {busy}", measure_cpu=True)
    assert r.ok and r.cpu_s is not None and r.cpu_s >= 0.3
    slept = SubprocessRunner().run("sleep 0.3", measure_cpu=True)
    assert slept.duration_s >= 0.3 and slept.cpu_s < 0.1


def test_sandbox_runner_times_inside_a_sandbox(open_dir, loop_bin):
    root = open_dir / "root"
    (root / "app").mkdir(parents=True)
    spec = SandboxSpec(
        root=root, writable=["app"], ro_binds=[(loop_bin.parent, "/opt/loop")], name="timing-test"
    )
    with BwrapSandbox(spec) as box:
        runner = SandboxRunner(box, cwd="/app")
        r = runner.run("/opt/loop/loop 1000; echo oops >&2", measure_cpu=True)
        assert r.ok and r.cpu_s is not None and r.cpu_s > 0
        assert r.stderr.strip() == "oops"  # the CPU-time line is taken off
        failed = runner.run("exit 7", measure_cpu=True)
        assert failed.exit_code == 7
        st = PairedSettings(
            warmup=1, min_pairs=10, max_pairs=25, target=0.02, time_source="stdout", confidence=0.99
        )
        res = measure_pair(f"/opt/loop/loop {2 * N}", f"/opt/loop/loop {N}", runner, st)
        assert res.ci_low <= 2.0 <= res.ci_high, res.summary()


BUSY = "python3 -c 'import time; t=time.process_time(); exec(\"while time.process_time()-t<0.2: pass\")'"


def test_sandbox_cpu_time_counts_work_handed_to_an_orphan(open_dir):
    """A double-forked worker escapes wait4 accounting, but not the sandbox's cgroup."""
    root = open_dir / "root-orphan"
    (root / "app").mkdir(parents=True)
    spec = SandboxSpec(root=root, writable=["app"], cpus=[0], name="orphan-test")
    with BwrapSandbox(spec) as box:
        if "cpu_s" not in box.usage():
            pytest.skip("no cgroup CPU accounting on this host")
        escaped = SandboxRunner(box).run(f"( {BUSY} & ); sleep 0.5", measure_cpu=True)
        assert escaped.ok and escaped.cpu_s is not None and escaped.cpu_s >= 0.15, escaped
    host = SubprocessRunner().run(f"( {BUSY} & ); sleep 0.5", measure_cpu=True)
    assert host.cpu_s is not None and host.cpu_s < 0.1  # what wait4 alone would have reported


def test_cpu_wrapper_reports_rusage_and_passes_the_exit_code_through():
    r = SubprocessRunner().run(
        f"/usr/bin/python3 -I -S -c {shlex.quote(CPU_WRAPPER)} {shlex.quote(BUSY + '; echo hi >&2; exit 5')}"
    )
    assert r.exit_code == 5
    m = CPU_LINE_RE.search(r.stderr)
    assert m and float(m.group(1)) >= 0.18
    assert r.stderr[: m.start()].strip() == "hi"
