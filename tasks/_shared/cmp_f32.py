"""Trusted float check of the C systems tasks: python3 cmp_f32.py TOLERANCE WANT_DIR GOT_DIR.

Every WANT_DIR/*.bin (little-endian float32) must have a GOT_DIR file of the same name, a
regular file of the same size whose every value is within TOLERANCE (absolute) of the wanted
one (NaN never is). Exit 0 when all match; else one line naming the first file that does not,
and exit 1. Reads the files as data and never runs the program that wrote them. Shared by
several tasks: edit tasks/_shared/cmp_f32.py and run scripts/sync_task_shared.py.
"""

import os
import stat
import sys

import numpy as np


def read(path: str) -> np.ndarray | None:
    """The float32 values of PATH, a regular file opened without following a link, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return np.frombuffer(fh.read(), dtype="<f4")


def main() -> int:
    tol, want_dir, got_dir = float(sys.argv[1]), sys.argv[2], sys.argv[3]
    names = sorted(n for n in os.listdir(want_dir) if n.endswith(".bin"))
    if not names:
        print(f"no expected *.bin in {want_dir}")
        return 1
    for name in names:
        want, got = read(os.path.join(want_dir, name)), read(os.path.join(got_dir, name))
        if want is None or got is None:
            print(f"{name}: {'no output file' if got is None else 'no expected file'}")
            return 1
        if got.size != want.size:
            print(f"{name}: {got.size} values, expected {want.size}")
            return 1
        err = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
        if not err <= tol:  # also NaN
            print(f"{name}: max abs error {err:.3g} > {tol:g}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
