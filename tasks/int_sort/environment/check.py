"""Local dev check for int_sort (you may run it; the sealed verifier uses its own, hidden inputs).

check.sh builds /app/prog first. This checks sort_u32 against numpy on a few fixed
inputs, then (unless --quick) runs the pristine baseline /orig/prog and your /app/prog once each on
the timing size, compares their checksums and times them as the verifier does: the CPU time
(user + system) of the whole run, generating and hashing the array included.
"""

import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

N_TIMING = 25_000_000


def cases(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    u32 = np.uint32
    return [
        ("empty", np.zeros(0, u32)),
        ("one", np.array([7], u32)),
        ("small random", rng.integers(0, 2**32, 100, dtype=u32)),
        ("random 100k", rng.integers(0, 2**32, 100_000, dtype=u32)),
        ("few distinct", rng.integers(0, 5, 50_000, dtype=u32)),
        ("descending", np.arange(200_000, 0, -1, dtype=u32)),
        ("extremes", rng.choice(np.array([0, 1, 2**31, 2**32 - 1], u32), 10_000)),
    ]


def main() -> int:
    prog = Path("/app/prog")
    rng = np.random.default_rng(12345)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name, arr in cases(rng):
            inp, out = Path(tmp, "in.bin"), Path(tmp, "out.bin")
            arr.astype("<u4").tofile(inp)
            r = subprocess.run([str(prog), "check", str(inp), str(out)], capture_output=True, text=True, timeout=120)
            got = np.fromfile(out, dtype="<u4") if out.exists() else None
            good = r.returncode == 0 and got is not None and np.array_equal(got, np.sort(arr))
            print(f"  {'ok  ' if good else 'FAIL'} {name} (n={arr.size}) {r.stderr.strip()}")
            ok &= good
    if not ok:
        print("correctness: FAILED")
        return 1
    print("correctness: ok")
    if "--quick" in sys.argv:
        return 0
    times, sums = {}, {}
    for label, p in (("baseline /orig/prog", "/orig/prog"), ("yours    /app/prog", str(prog))):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = subprocess.run([p, "bench", "1", str(N_TIMING)], capture_output=True, text=True, timeout=600)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r.returncode != 0:
            print(f"  {label}: FAILED {r.stderr.strip()}")
            return 1
        times[label] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        sums[label] = r.stdout
        print(f"  {label}: {times[label]:.3f} s CPU")
    if len(set(sums.values())) != 1:
        print("timing input: your checksum differs from the baseline's (the output is not sorted)")
        return 1
    base, mine = times.values()
    print(f"speedup (one unpaired run, noisy): {base / mine:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
