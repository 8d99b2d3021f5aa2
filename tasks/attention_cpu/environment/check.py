"""Local dev check for attention_cpu (you may run it; the sealed verifier uses its own, hidden inputs).

check.sh builds /app/prog first. This compares attention() with a float64 numpy
reference on a few fixed inputs (max abs error must be <= 1e-4), then (unless
--quick) runs the pristine baseline /orig/prog and your /app/prog once each on the
timing workload (n = 4096, d = 64, 3 heads, non-causal and causal), compares their outputs
and times them as the verifier does: the CPU time (user + system) of the whole run,
generating the inputs and writing the outputs included.
"""

import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

N_T, HEADS_T, D = 4096, 3, 64
TOLERANCE = 1e-4


def reference(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool) -> np.ndarray:
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    s = q @ k.T / np.sqrt(q.shape[1])
    if causal:
        s = np.where(np.tril(np.ones(s.shape, dtype=bool)), s, -np.inf)
    s -= s.max(axis=1, keepdims=True)
    p = np.exp(s)
    return (p / p.sum(axis=1, keepdims=True)) @ v


def main() -> int:
    rng = np.random.default_rng(7)
    ok = True
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for n in (1, 5, 64, 100, 1000):
            for causal in (False, True):
                q, k, v = (rng.uniform(-2, 2, (n, D)).astype(np.float32) for _ in range(3))
                with open(tmp / "in.bin", "wb") as f:
                    np.array([n, D, int(causal)], "<i4").tofile(f)
                    for x in (q, k, v):
                        x.tofile(f)
                out = tmp / "out.bin"
                out.unlink(missing_ok=True)
                r = subprocess.run(["/app/prog", "check", str(tmp / "in.bin"), str(out)], capture_output=True, text=True, timeout=300)
                got = np.fromfile(out, dtype="<f4") if out.exists() else np.zeros(0, np.float32)
                err = float(np.max(np.abs(got.reshape(n, D) - reference(q, k, v, causal)))) if got.size == n * D else float("inf")
                good = r.returncode == 0 and err <= TOLERANCE
                print(f"  {'ok  ' if good else 'FAIL'} n={n} causal={causal}: max abs error {err:.3g} {r.stderr.strip()}")
                ok &= good
        if not ok:
            print("correctness: FAILED")
            return 1
        print("correctness: ok")
        if "--quick" in sys.argv:
            return 0
        times, outs = {}, {}
        for label, prog in (("baseline /orig/prog", "/orig/prog"), ("yours    /app/prog", "/app/prog")):
            outs[label] = tmp / f"timing-{len(outs)}.bin"
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            r = subprocess.run([prog, "run", "1", str(N_T), str(HEADS_T), str(outs[label])], capture_output=True, text=True, timeout=600)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if r.returncode != 0:
                print(f"  {label}: FAILED {r.stderr.strip()}")
                return 1
            times[label] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            print(f"  {label}: {times[label]:.3f} s CPU")
        want, got = (np.fromfile(p, dtype="<f4") for p in outs.values())
        err = float(np.max(np.abs(got - want))) if got.size == want.size else float("inf")
        if not err <= TOLERANCE:
            print(f"timing workload: max abs error {err:.3g} > {TOLERANCE} against the baseline")
            return 1
    base, mine = times.values()
    print(f"speedup (one unpaired run, noisy): {base / mine:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
