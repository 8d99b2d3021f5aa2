"""Plain-Harbor fallback of a task that declares its runs in /tests/run.toml (stdlib only).

Under looplab this file is never run: the harness's candidate runner builds, checks
and times the programs, each run in a jail of its own. In a plain Harbor container
(the container is the isolation there) `test.sh` runs this instead:

    python3 /tests/harbor_run.py S_REF

It follows the same declaration: builds every program, checks the candidate on
``correctness_runs`` fresh inputs, then times three rounds of baseline and
candidate on fresh inputs (children's CPU time, or wall time), every output
checked, and writes /logs/verifier/reward.json with AutoLab's log-speedup reward
``min(1, 0.5 * ln(speedup) / ln(S_REF))``. Shared by several tasks: edit
tasks/_shared/harbor_run.py and run scripts/sync_task_shared.py.
"""

import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib

REWARD = "/logs/verifier/reward.json"
PLACEHOLDER = re.compile(r"\{(src|build|input|expected|output|reference|seed|purpose)\}")


class Failed(Exception):
    pass


def fill(command, values):
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), command)


def sh(command, timeout):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return p, cpu, wall


def main():
    with open("/tests/run.toml", "rb") as fh:
        decl = tomllib.load(fh)
    s_ref = float(sys.argv[1])
    work = tempfile.mkdtemp(prefix="harbor-run-")
    progs = decl.get("programs", {"baseline": "/orig", "candidate": "/app"})
    ref = decl.get("reference")
    if "screen" in decl:
        p, _, _ = sh(
            fill(decl["screen"]["command"], {"src": progs["candidate"]}),
            decl["screen"].get("timeout_sec", 60),
        )
        if p.returncode != 0:
            raise Failed(f"candidate: {(p.stdout + p.stderr)[-400:]}")
    builds = {}
    for name, src in progs.items():
        builds[name] = os.path.join(work, f"build-{name}")
        os.makedirs(builds[name])
        if "build" in decl:
            p, _, _ = sh(
                fill(decl["build"]["command"], {"src": src, "build": builds[name]}),
                decl["build"].get("timeout_sec", 600),
            )
            if p.returncode != 0:
                raise Failed(f"{name} does not build: {(p.stderr or p.stdout)[-400:]}")
    n_run = [0]

    def one_input(purpose):
        d = os.path.join(work, f"in-{n_run[0]}")
        n_run[0] += 1
        inp, exp = d + "-input", d + "-expected"
        os.makedirs(inp)
        os.makedirs(exp)
        seed = str(int.from_bytes(os.urandom(8), "little") >> 1)
        p, _, _ = sh(
            fill(
                decl["generate"]["command"], {"seed": seed, "purpose": purpose, "input": inp, "expected": exp}
            ),
            600,
        )
        if p.returncode != 0:
            raise RuntimeError(f"input generator failed: {p.stderr[-400:]}")
        return inp, exp

    def run(name, inp):
        out = os.path.join(work, f"out-{n_run[0]}-{name}")
        n_run[0] += 1
        os.makedirs(out)
        p, cpu, wall = sh(
            fill(
                decl["run"]["command"],
                {"src": progs[name], "build": builds[name], "input": inp, "output": out},
            ),
            decl["run"].get("timeout_sec", 60),
        )
        if p.returncode != 0:
            raise Failed(f"{name} exited {p.returncode}: {p.stderr[-300:]}")
        with open(os.path.join(out, "stdout"), "w") as fh:
            fh.write(p.stdout)
        return out, cpu if decl.get("time", "cpu") == "cpu" else wall

    def check(name, inp, exp, out, ref_out):
        values = {
            "input": inp,
            "expected": exp,
            "output": out,
            "reference": ref_out or "",
            "src": progs[name],
        }
        p, _, _ = sh(fill(decl["check"]["command"], values), decl["check"].get("timeout_sec", 60))
        if p.returncode != 0:
            raise Failed(f"{name}: wrong output: {(p.stdout + p.stderr)[-300:]}")

    for i in range(decl.get("correctness_runs", 2)):
        inp, exp = one_input(f"check-{i}")
        out, _ = run("candidate", inp)
        ref_out = run(ref, inp)[0] if ref else None
        check("candidate", inp, exp, out, ref_out)
    times = {"baseline": [], "candidate": []}
    for _ in range(3):
        inp, exp = one_input("time")
        outs = {}
        for name in ("baseline", "candidate"):
            outs[name], t = run(name, inp)
            times[name].append(t)
        check("candidate", inp, exp, outs["candidate"], outs["baseline"] if ref == "baseline" else None)
    shutil.rmtree(work, ignore_errors=True)
    b, c = sorted(times["baseline"])[1], sorted(times["candidate"])[1]
    speedup = b / max(c, 1e-9)
    reward = max(0.0, min(1.0, 0.5 * math.log(speedup) / math.log(s_ref))) if speedup > 1.1 else 0.0
    return {"reward": reward, "correct": True, "speedup": speedup, "time_s": c, "baseline_time_s": b}


def write(result):
    os.makedirs(os.path.dirname(REWARD), exist_ok=True)
    with open(REWARD + ".tmp", "w") as fh:
        json.dump(result, fh)
    os.replace(REWARD + ".tmp", REWARD)


if __name__ == "__main__":
    try:
        write(main())
    except Failed as exc:
        write({"reward": 0.0, "correct": False, "reason": str(exc)})
    except Exception as exc:  # the verifier must always leave a reward behind
        write({"reward": 0.0, "correct": False, "reason": f"verifier error: {exc!r}"[:500]})
