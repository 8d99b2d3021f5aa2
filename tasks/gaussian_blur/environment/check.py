"""Local dev check for gaussian_blur (you may run it; the sealed verifier uses its own, hidden inputs).

check.sh builds /app/prog first. This compares your output with the pristine
baseline /orig/prog on a few fixed images (max abs error must be <= 1e-4), then
(unless --quick) runs both once on the 2560x1440, 5-pass timing image, compares their
outputs and times them as the verifier does: the CPU time (user + system) of the whole run,
generating the image and writing the result included.
"""

import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

W_T, H_T, PASSES_T = 2560, 1440, 5
TOLERANCE = 1e-4


def gaussian(sigma: float) -> np.ndarray:
    k = np.arange(17) - 8
    g = np.exp(-(k * k) / (2 * sigma * sigma))
    g /= g.sum()
    return np.outer(g, g).astype(np.float32)


def blur(prog: str, tmp: Path, w: int, h: int, passes: int, k: np.ndarray, img: np.ndarray) -> np.ndarray | None:
    inp, out = tmp / "in.bin", tmp / "out.bin"
    out.unlink(missing_ok=True)
    with open(inp, "wb") as f:
        np.array([w, h, passes], "<i4").tofile(f)
        k.astype("<f4").tofile(f)
        img.astype("<f4").tofile(f)
    r = subprocess.run([prog, "check", str(inp), str(out)], capture_output=True, text=True, timeout=300)
    if r.returncode != 0 or not out.exists():
        print(f"    {prog}: exit {r.returncode} {r.stderr.strip()}")
        return None
    return np.fromfile(out, dtype="<f4")


def main() -> int:
    rng = np.random.default_rng(2024)
    ok = True
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for w, h, passes, sigma in [(1, 1, 1, 3.0), (5, 3, 2, 2.0), (17, 17, 1, 3.0), (40, 25, 3, 4.0), (300, 200, 2, 3.0)]:
            img = rng.random(w * h, dtype=np.float32)
            k = gaussian(sigma)
            want = blur("/orig/prog", tmp, w, h, passes, k, img)
            got = blur("/app/prog", tmp, w, h, passes, k, img)
            err = float(np.max(np.abs(got - want))) if got is not None and got.size == want.size else float("inf")
            good = err <= TOLERANCE
            print(f"  {'ok  ' if good else 'FAIL'} {w}x{h}, {passes} passes, sigma {sigma}: max abs error {err:.3g}")
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
            cmd = [prog, "run", "1", str(W_T), str(H_T), str(PASSES_T), str(outs[label])]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if r.returncode != 0:
                print(f"  {label}: FAILED {r.stderr.strip()}")
                return 1
            times[label] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            print(f"  {label}: {times[label]:.3f} s CPU")
        want, got = (np.fromfile(p, dtype="<f4") for p in outs.values())
        err = float(np.max(np.abs(got - want))) if got.size == want.size else float("inf")
        if not err <= TOLERANCE:
            print(f"timing image: max abs error {err:.3g} > {TOLERANCE} against the baseline")
            return 1
    base, mine = times.values()
    print(f"speedup (one unpaired run, noisy): {base / mine:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
