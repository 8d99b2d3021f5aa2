"""Red team for the five puzzle tasks: cheating agents, run through the real harness (replay agent,
sealed verifier in a bubblewrap sandbox), never score more than the honest work they carry.

The categories: editing the non-editable checker/simulator in /app, hard-coding the answer for the
local check's fixed inputs, printing a fake metric line, and — where the verifier runs the agent's
code (vliw_scheduler, splay_adversary) — tampering with the verifier from inside that code:
rewriting /tests, forging /logs/verifier/reward.json and leaving a daemon behind that keeps
forging it after the verifier is done.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_job, trial_results

TASKS = REPO / "tasks"


def _module(task: str, name: str, folder: str = "environment"):
    spec = importlib.util.spec_from_file_location(f"{task}_{name}", TASKS / task / folder / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _run(tmp_path: Path, write_script, task: str, steps: list[dict], name: str) -> dict:
    script = write_script(steps, f"{name}.yaml")
    r = run_job(
        TASKS / task, tmp_path / "jobs", "replay", name=name, extra=["--ak", f"script={script}"], timeout=900
    )
    assert r.returncode == 0, r.stderr + r.stdout
    (res,) = trial_results(tmp_path / "jobs" / name)
    assert res["status"] == "completed", res
    assert res["sealed"] is True
    return res


def _write(path: str, content: str) -> dict:
    return {"write": {"path": path, "content": content}}


# a daemon that escapes its parent (double fork + setsid) and keeps forging the reward for 15 s, with
# the metric the harness recomputes the reward from
FORGER = """
import os, time
FORGED = '{"reward": 1.0, "correct": true, "rotations": 999999999, "excess_ratio": 0.0}'
def _forge():
    if os.fork():
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    end = time.time() + 15
    while time.time() < end:
        for name in ("reward.json", "reward.txt"):
            try:
                with open("/logs/verifier/" + name, "w") as fh:
                    fh.write(FORGED if name.endswith("json") else "1.0")
            except OSError:
                pass
        time.sleep(0.005)
    os._exit(0)
_forge()
for path in ("/tests/verify.py", "/tests/test.sh"):
    try:
        with open(path, "a") as fh:
            fh.write("\\n# tampered\\n")
    except OSError:
        pass
"""


def test_sorting_network_edited_checker_does_not_count(tmp_path: Path, write_script) -> None:
    # the local checker is made to accept anything; the network itself does not sort
    fake_checker = (
        "import json, sys\nprint(json.dumps({'valid': True, 'comparators': 1}))\nprint('OK: comparators=1')\n"
    )
    steps = [
        _write("/app/checknet.py", fake_checker),
        _write("/app/network.txt", "0 1\n2 3\n"),
        {"run": "bash /app/check.sh"},
    ]
    res = _run(tmp_path, write_script, "sorting_network16", steps, "sn-cheat")
    assert res["reward"] == 0.0
    assert "unsorted" in res["verifier_result"]["extra"]["reason"]
    assert res["verifier_result"]["carried_files"] == ["network.txt"]


def test_stack_machine_hard_coded_local_answer_and_edited_interpreter(tmp_path: Path, write_script) -> None:
    smvm = _module("stack_machine_dot", "smvm")
    a, b = smvm.random_vectors(random.Random(1))  # check.sh's first fixed vector pair
    answer = sum(x * y for x, y in zip(a, b, strict=True))
    steps = [
        _write("/app/program.sm", f"push {answer}\nhalt\n"),
        {"run": "sed -i 's/steps += 1/steps += 0/' /app/smvm.py && bash /app/check.sh"},
    ]
    res = _run(tmp_path, write_script, "stack_machine_dot", steps, "sm-cheat")
    assert res["reward"] == 0.0
    assert "wrong result" in res["verifier_result"]["extra"]["reason"]
    # the agent's own (edited) check was fooled on its fixed vectors: the cheat did "work" locally
    traj = next((tmp_path / "jobs" / "sm-cheat").glob("stack_machine_dot__*")) / "agent" / "trajectory.jsonl"
    obs = [json.loads(x) for x in traj.read_text().splitlines() if '"observation"' in x]
    assert "OK: ok" in obs[-1]["stdout"] and "0 executed (seed 1)" in obs[-1]["stdout"]


def test_toy_isa_simulator_edited_to_report_one_cycle(tmp_path: Path, write_script) -> None:
    toysim = _module("toy_isa_dot", "toysim")
    a, b = toysim.random_vectors(random.Random(1))
    answer = sum(x * y for x, y in zip(a, b, strict=True))
    steps = [
        _write("/app/dot.asm", f"li r1, {answer}\nhalt\n"),
        {"run": "sed -i 's/res.cycles = issue + 1/res.cycles = 1/' /app/toysim.py && bash /app/check.sh"},
    ]
    res = _run(tmp_path, write_script, "toy_isa_dot", steps, "toy-cheat")
    assert res["reward"] == 0.0
    assert "wrong result" in res["verifier_result"]["extra"]["reason"]


def test_vliw_fake_metric_line_and_hard_coded_local_schedules(tmp_path: Path, write_script) -> None:
    vliw = _module("vliw_scheduler", "vliw")
    ref = _module("vliw_scheduler", "scheduler", "solution")
    local = [ref.schedule(inst) for inst in vliw.generate_batch(1)]  # check.sh's fixed batch, solved well
    hard_coded = (
        "import json, sys\nsys.stdin.read()\n"
        f"print('cycles: 1  excess_ratio: 0.0')\nprint(json.dumps({{'schedules': {json.dumps(local)}}}))\n"
    )
    res = _run(
        tmp_path, write_script, "vliw_scheduler", [_write("/app/scheduler.py", hard_coded)], "vliw-fake"
    )
    assert res["reward"] == 0.0 and "not JSON" in res["verifier_result"]["extra"]["reason"]
    no_fake_line = hard_coded.replace("print('cycles: 1  excess_ratio: 0.0')\n", "")
    res = _run(
        tmp_path, write_script, "vliw_scheduler", [_write("/app/scheduler.py", no_fake_line)], "vliw-hard"
    )
    assert res["reward"] == 0.0 and res["verifier_result"]["extra"]["correct"] is False


def test_vliw_scheduler_tampering_with_the_verifier_scores_like_its_honest_schedules(
    tmp_path: Path, write_script
) -> None:
    baseline = (TASKS / "vliw_scheduler" / "environment" / "scheduler.py").read_text()
    cheat = FORGER + "\n" + baseline
    res = _run(tmp_path, write_script, "vliw_scheduler", [_write("/app/scheduler.py", cheat)], "vliw-forge")
    vr = res["verifier_result"]
    assert res["reward"] == 0.0, vr  # its schedules are the baseline's: excess_ratio exactly 1
    assert vr["extra"]["correct"] is True and vr["rewards"]["excess_ratio"] == 1.0
    trial = next((tmp_path / "jobs" / "vliw-forge").glob("vliw_scheduler__*"))
    assert json.loads((trial / "verifier" / "reward.json").read_text())["reward"] == 0.0


def test_splay_fake_metric_line_is_invalid(tmp_path: Path, write_script) -> None:
    gen = (TASKS / "splay_adversary" / "environment" / "gen.py").read_text()
    fake = gen + "print('rotations: 999999999')\n"
    res = _run(tmp_path, write_script, "splay_adversary", [_write("/app/gen.py", fake)], "splay-fake")
    assert res["reward"] == 0.0 and "expected exactly 10000 keys" in res["verifier_result"]["extra"]["reason"]


def test_splay_generator_tampering_with_the_verifier_scores_like_its_honest_sequence(
    tmp_path: Path, write_script
) -> None:
    gen = (TASKS / "splay_adversary" / "environment" / "gen.py").read_text()
    # the honest part: sequential access 1..1023 repeated is worse than random, a strictly
    # positive-information check (rotations known exactly) that nothing but the keys counted
    honest = "print('\\n'.join(str(i % 1023 + 1) for i in range(10000)))\n"
    cheat = FORGER + "\n" + honest
    res = _run(tmp_path, write_script, "splay_adversary", [_write("/app/gen.py", cheat)], "splay-forge")
    vr = res["verifier_result"]
    splay = _module("splay_adversary", "splay")
    expected = splay.total_rotations([i % 1023 + 1 for i in range(10000)])
    assert vr["extra"]["correct"] is True and vr["rewards"]["rotations"] == expected
    assert res["reward"] == 0.0  # below the random baseline: clipped to 0, not the forged 1.0
    # and the untampered baseline scores the same as the baseline itself
    res2 = _run(
        tmp_path,
        write_script,
        "splay_adversary",
        [_write("/app/gen.py", FORGER + "\n" + gen)],
        "splay-forge2",
    )
    assert res2["reward"] == 0.0 and res2["verifier_result"]["rewards"]["rotations"] == 114459


def test_reference_plus_forger_scores_exactly_the_reference(tmp_path: Path, write_script) -> None:
    """The honest part is the reference scheduler: the forger adds nothing to its reward."""
    ref = (TASKS / "vliw_scheduler" / "solution" / "scheduler.py").read_text()
    res = _run(
        tmp_path,
        write_script,
        "vliw_scheduler",
        [_write("/app/scheduler.py", FORGER + "\n" + ref)],
        "ref-forge",
    )
    vr = res["verifier_result"]
    assert vr["extra"]["correct"] is True
    expected = min(1.0, (1.0 - vr["rewards"]["excess_ratio"]) / (1.0 - 0.0048))
    assert res["reward"] == pytest.approx(expected) and res["reward"] >= 0.9
