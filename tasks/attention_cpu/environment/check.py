"""Local dev check for attention_cpu (you may run it; the sealed verifier uses its own, hidden inputs).

check.sh builds /app/prog first. This compares attention() with a float64 numpy
reference on a few fixed inputs (max abs error must be <= 1e-4), then (unless
--quick) times the pristine baseline /orig/prog and your /app/prog once each on the
timing workload (n = 4096, d = 64, 3 heads, non-causal and causal), as the verifier
does (the CPU time of the attention calls, measured by the driver).
"""

import json
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
        exp = tmp / "expected.bin"
        times = {}
        for label, prog, mode in (("baseline /orig/prog", "/orig/prog", "run"), ("yours    /app/prog", "/app/prog", "bench")):
            r = subprocess.run([prog, mode, "1", str(N_T), str(HEADS_T), str(exp)], capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                print(f"  {label}: FAILED {r.stderr.strip()}")
                return 1
            times[label] = json.loads(r.stdout.strip().splitlines()[-1])["seconds"]
            print(f"  {label}: {times[label]:.3f} s CPU")
    base, mine = times.values()
    print(f"speedup (one unpaired run, noisy): {base / mine:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
