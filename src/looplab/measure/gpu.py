"""Paired GPU timing by a trusted driver: candidate and baseline kernels interleaved on one GPU.

Three worker processes (``gpu_worker``), each started by this trusted driver in looplab's one jail
(``looplab.sandbox.jail``: read-only root without /tests, /logs and /solution, private
/tmp and /dev/shm, new namespaces, the GPU's device nodes bound in; no jail, no
measurement) and spoken to over a pipe of JSON lines:

- the *baseline* and *candidate* workers each import one program (a Python file whose
  kernel the task's spec calls); the *reference* worker imports none and computes the
  task's trusted PyTorch reference;
- a timed round sends ``{"op": "run", "seed": S, "iters": K}``: the worker draws K fresh
  inputs from seeds S..S+K-1 (unknown before the round starts), runs the kernel on each,
  reduces each output to a bilinear checksum ``r^T out w`` with random ``r``, ``w``
  drawn from the same seed, synchronises the device and answers with the checksums.
  The driver's clock (``perf_counter``) around the request is the round's time: the
  candidate never reports a time, and cannot answer before it has every output;
- rounds alternate baseline/candidate in a random order per pair, after warm-up rounds
  (compilation, autotuning, clocks), with K chosen so a baseline round lasts about
  ``round_s``; after a candidate round is timed, a random half of them are re-run by the
  reference worker and the checksums compared (the candidate cannot tell which);
- before timing, ``correctness_runs`` seeds drawn now check full outputs elementwise:
  the candidate saves its outputs (``torch.save``), the reference worker loads them with
  ``weights_only=True`` and compares.

Speedups are the per-pair ratios baseline/candidate, summarised with
``looplab.measure.stats`` (median, bootstrap interval, CV of each side). GPU memory:
the spec's ``GPU_MEMORY_MB`` caps PyTorch's allocator in each worker (a driver-level cap
needs MIG); each worker's peak allocation and the device's used memory (nvidia-smi,
seen by the driver) are recorded. A task declares all of this in ``tests/gpu.toml``
(``GpuRunDeclaration``) and its test.sh runs ``python3 -m looplab.measure.gpu verify``
(``worker`` starts a worker: the driver's own argv for them).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import select
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_json, remove_tree
from looplab.measure.gpu_worker import worker_main
from looplab.measure.stats import cv, median_ratio_ci
from looplab.sandbox.gpu import present_nodes
from looplab.sandbox.jail import JailSpec, jail_argv


class GpuRunDeclaration(BaseModel):
    """``tests/gpu.toml``: what the trusted driver times and checks."""

    model_config = ConfigDict(extra="forbid")
    spec: str  # the task's trusted spec (inputs, reference, how to call a program)
    baseline: str  # the pristine program, e.g. /orig/kernel.py
    candidate: str  # the agent's program, e.g. /app/kernel.py
    correctness_runs: int = Field(default=3, ge=1)
    warmup: int = Field(default=3, ge=1)
    min_pairs: int = Field(default=10, ge=2)
    max_pairs: int = Field(default=40, ge=2)
    target: float = Field(default=0.02, gt=0)  # stop at this relative half-width of the speedup's interval
    max_seconds: float = Field(default=120.0, gt=0)
    round_s: float = Field(default=0.05, gt=0)  # how long one baseline round lasts
    check_fraction: float = Field(default=0.5, ge=0, le=1)
    request_timeout_s: float = Field(default=120.0, gt=0)


def load_declaration(path: Path) -> GpuRunDeclaration:
    try:
        return GpuRunDeclaration.model_validate(tomllib.loads(Path(path).read_text()))
    except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
        first = str(exc).splitlines()
        raise LooplabError(f"{path}: {' '.join(first[:3])}") from None


class Worker:
    """One worker process and its pipe; every request has a deadline."""

    def __init__(self, name: str, argv: list[str], timeout: float, env: dict[str, str]):
        self.name, self.timeout = name, timeout
        pipe = subprocess.PIPE
        self.proc = subprocess.Popen(
            argv, stdin=pipe, stdout=pipe, stderr=pipe, env=env, start_new_session=True
        )
        self._buf = b""

    def wait_ready(self) -> None:
        """Wait for the worker's first line (PyTorch imported, spec and program loaded)."""
        first = self._read(self.timeout)
        if not first.get("ready"):
            raise LooplabError(
                f"{self.name} worker did not start: {first.get('error') or self.stderr_tail()}"
            )

    def stderr_tail(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return "(still running)"
        return self.proc.stderr.read()[-1500:].decode("utf-8", "replace").strip().replace("\n", " | ")

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.close()
                raise LooplabError(f"{self.name} worker gave no answer within {timeout:g} s")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise LooplabError(f"{self.name} worker exited: {self.stderr_tail()}")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            msg = json.loads(line)
        except ValueError:
            raise LooplabError(f"{self.name} worker answered garbage: {line[:200]!r}") from None
        return msg if isinstance(msg, dict) else {"error": "not an object"}

    def request(self, req: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """Send one request; the answer and the driver's wall time around it."""
        assert self.proc.stdin is not None
        data = (json.dumps(req) + "\n").encode()
        t0 = time.perf_counter()
        self.proc.stdin.write(data)
        self.proc.stdin.flush()
        msg = self._read(self.timeout)
        return msg, time.perf_counter() - t0

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        self.proc.wait()


def jail_prefix(env: dict[str, str], writable: list[Path], readable: tuple[Path, ...] = ()) -> list[str]:
    """The argv prefix that runs a worker in the one jail of ``looplab.sandbox.jail``.

    The jail's root is this process's own (the verifier's) with ``/tests``, ``/logs`` and
    ``/solution`` left out, read-only but for ``writable``, with fresh ``/tmp``, ``/dev/shm``
    and namespaces, and the GPU's device nodes bound in. Where it cannot start the
    measurement fails: no worker ever runs a program unjailed.
    """
    spec = JailSpec(
        root=Path("/"),
        ro=[(d, str(d)) for d in readable],
        rw=[(d, str(d)) for d in writable],
        devices=[(n, str(n)) for n in present_nodes()],
        env=env,
    )
    prefix = jail_argv(spec, [])
    probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30, text=True)
    if probe.returncode != 0:
        why = probe.stderr.strip().splitlines()[-1:] or [f"exit {probe.returncode}"]
        raise LooplabError(f"the GPU workers cannot be jailed here: bubblewrap: {why[0]}")
    return prefix


def device_memory_used_mb() -> float | None:
    """Used memory of the (only) visible GPU, as the driver reports it; None without nvidia-smi."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    r = subprocess.run(
        [smi, "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    vals = [float(x) for x in r.stdout.split() if x.replace(".", "").isdigit()]
    return max(vals) if r.returncode == 0 and vals else None


def checksums_agree(got: list[float], ref: list[float], spec_tol: tuple[float, float]) -> bool:
    """Checksums ``[r^T X w, |r||w|, max|X|]`` per output against the reference's.

    Elementwise errors within ``atol + rtol·max|X|`` of random sign move ``r^T X w`` by
    about that times ``|r||w|``; eight times that is allowed. Outputs that were not
    computed (zeros, stale, partial) miss by orders of magnitude more.
    """
    atol, rtol = spec_tol
    if len(got) != len(ref) or not ref:
        return False
    for k in range(0, len(ref), 3):
        value, norms, peak = ref[k], ref[k + 1], ref[k + 2]
        bound = 8.0 * (atol + rtol * peak) * norms + 1e-9 * abs(value)
        if not math.isfinite(got[k]) or abs(got[k] - value) > bound:
            return False
    return True


def measure(decl: GpuRunDeclaration, device: str = "cuda", log: Any = print) -> dict[str, Any]:
    """Check and time the candidate against the baseline; the reward.json fields (no reward yet)."""
    t_start = time.monotonic()
    spec_tol = _spec_tolerance(decl.spec)
    work = Path(tempfile.mkdtemp(prefix="looplab-gpu-"))
    dirs = {k: work / k for k in ("baseline", "candidate", "reference")}
    for d in dirs.values():
        d.mkdir()
        d.chmod(0o777)
    shared = work / "spec"
    shared.mkdir()
    spec_path = shared / "spec.py"
    shutil.copyfile(decl.spec, spec_path)
    work.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLAB_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    workers: dict[str, Worker] = {}
    result: dict[str, Any] = {"correct": False, "jailed": True, "device": device}
    try:
        for name, prog in (("reference", None), ("baseline", decl.baseline), ("candidate", decl.candidate)):
            argv = [
                sys.executable,
                "-m",
                "looplab.measure.gpu",
                "worker",
                str(spec_path),
                prog or "-",
                device,
            ]
            wenv = {**env, "TRITON_CACHE_DIR": str(dirs[name] / "triton"), "HOME": str(dirs[name])}
            others = tuple(d for k, d in dirs.items() if k != name) if name == "reference" else ()
            # the reference reads the others' outputs
            prefix = jail_prefix(wenv, [dirs[name]], (shared, *others))
            workers[name] = Worker(name, [*prefix, *argv], decl.request_timeout_s, wenv)
        for w in workers.values():  # the three start side by side (importing PyTorch takes seconds)
            w.wait_ready()
        ref, base, cand = workers["reference"], workers["baseline"], workers["candidate"]
        for who in (base, cand):  # correctness on seeds drawn now
            for k in range(decl.correctness_runs if who is cand else 1):
                seed = random.SystemRandom().randrange(1, 2**40)
                path = dirs[who.name] / f"out{k}.pt"
                msg, _ = who.request({"op": "check", "seed": seed, "path": str(path)})
                if "error" in msg:
                    return {**result, "reason": f"{who.name} failed: {msg['error']}"}
                verdict, _ = ref.request({"op": "compare", "seed": seed, "path": str(path)})
                if not verdict.get("ok"):
                    why = verdict.get("reason") or verdict.get("error")
                    return {**result, "reason": f"{who.name} output wrong on check {k}: {why}"}
        log("candidate matches the reference on fresh inputs")
        rng = random.SystemRandom()
        t_base = None
        for _ in range(decl.warmup):  # compile, autotune, raise clocks
            for who in (base, cand):
                msg, dt = who.request({"op": "run", "seed": rng.randrange(1, 2**40), "iters": 1})
                if "error" in msg:
                    return {**result, "reason": f"{who.name} failed in warm-up: {msg['error']}"}
                if who is base:
                    t_base = dt
        iters = max(1, min(10000, math.ceil(decl.round_s / max(t_base or decl.round_s, 1e-6))))
        times: dict[str, list[float]] = {"baseline": [], "candidate": []}
        checked = 0
        t_timing = time.monotonic()
        while len(times["candidate"]) < decl.max_pairs:
            seed = rng.randrange(1, 2**40)
            order = [base, cand] if rng.random() < 0.5 else [cand, base]
            sums: dict[str, list[float]] = {}
            for who in order:
                msg, dt = who.request({"op": "run", "seed": seed, "iters": iters})
                if "error" in msg:
                    return {**result, "reason": f"{who.name} failed while timed: {msg['error']}"}
                times[who.name].append(dt)
                sums[who.name] = msg.get("checksums", [])
            if rng.random() < decl.check_fraction or len(times["candidate"]) == 1:
                rmsg, _ = ref.request({"op": "run", "seed": seed, "iters": iters})
                for name in ("candidate", "baseline"):
                    if not checksums_agree(sums[name], rmsg.get("checksums", []), spec_tol):
                        return {
                            **result,
                            "reason": f"{name} output wrong in a timed round (checksum differs)",
                        }
                checked += 1
            n = len(times["candidate"])
            if n >= decl.min_pairs:
                ci = median_ratio_ci(
                    [b / c for b, c in zip(times["baseline"], times["candidate"], strict=True)]
                )
                if ci.rel_half_width <= decl.target or time.monotonic() - t_timing > decl.max_seconds:
                    break
        ratios = [b / c for b, c in zip(times["baseline"], times["candidate"], strict=True)]
        ci = median_ratio_ci(ratios)
        mem = {w.name: w.request({"op": "memory"})[0].get("peak_mb") for w in (base, cand)}
        result.update(
            correct=True,
            speedup=ci.median,
            speedup_ci=[ci.low, ci.high],
            pairs=len(ratios),
            iters_per_round=iters,
            baseline_round_s=sorted(times["baseline"])[len(ratios) // 2],
            candidate_round_s=sorted(times["candidate"])[len(ratios) // 2],
            cv_baseline=cv(times["baseline"]),
            cv_candidate=cv(times["candidate"]),
            rounds_checked=checked,
            peak_allocated_mb=mem,
            device_memory_used_mb=device_memory_used_mb(),
        )
        return result
    finally:
        for w in workers.values():
            w.close()
        with contextlib.suppress(OSError):  # iterative: a candidate's deep tree cannot overflow the stack
            remove_tree(work)
        result["verification_s"] = round(time.monotonic() - t_start, 2)


def _spec_tolerance(spec_path: str) -> tuple[float, float]:
    """ATOL/RTOL of a spec, read without running it in this process (the spec is trusted but needs torch)."""
    vals: dict[str, float] = {}
    for line in Path(spec_path).read_text().splitlines():
        name, _, rest = line.partition("=")
        if name.strip() in ("ATOL", "RTOL") and rest.strip():
            vals[name.strip()] = float(rest.split("#")[0].strip())
    if set(vals) != {"ATOL", "RTOL"}:
        raise LooplabError(f"{spec_path}: needs ATOL = <number> and RTOL = <number> lines")
    return vals["ATOL"], vals["RTOL"]


def reward(speedup: float, s_ref: float) -> float:
    """AutoLab's log-speedup reward, the formula looplab's verifier applies (``looplab.verify.rewards``)."""
    from looplab.verify.rewards import log_speedup_reward

    return log_speedup_reward(speedup, s_ref)


def verify_main(decl_path: Path, out: Path, s_ref: float | None, device: str) -> int:
    """test.sh's entry: measure and write reward.json (always, atomically)."""
    try:
        fields = measure(load_declaration(decl_path), device)
    except LooplabError as exc:
        fields = {"correct": False, "reason": str(exc)}
    if not fields.get("correct"):
        fields["speedup"] = 0.0
    if s_ref is not None:  # inside looplab the harness computes the reward from task.toml's constants
        fields["reward"] = reward(float(fields["speedup"]), s_ref) if fields.get("correct") else 0.0
    atomic_write_json(out, fields)
    print(json.dumps(fields))
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 1 and argv[0] == "worker":
        spec, prog, device = argv[1], argv[2], argv[3]
        worker_main(spec, None if prog == "-" else prog, device)
        return 0
    if len(argv) >= 1 and argv[0] == "verify":
        import argparse

        ap = argparse.ArgumentParser(prog="python -m looplab.measure.gpu verify")
        ap.add_argument("--decl", type=Path, required=True)
        ap.add_argument("--out", type=Path, required=True)
        ap.add_argument("--s-ref", type=float, default=None, help="also write the log-speedup reward")
        ap.add_argument("--device", default=os.environ.get("LOOPLAB_GPU_DEVICE", "cuda"))
        a = ap.parse_args(argv[1:])
        return verify_main(a.decl, a.out, a.s_ref, a.device)
    print(
        "usage: python -m looplab.measure.gpu verify --decl FILE --out FILE [--s-ref S]"
        " | worker SPEC PROG DEVICE"
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
