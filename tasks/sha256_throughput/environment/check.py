"""Local dev check for sha256_throughput (you may run it; the sealed verifier uses its own, hidden inputs).

check.sh builds /app/prog first. This compares sha256() against Python's hashlib on
a few fixed messages (various lengths, unaligned buffers), then (unless --quick)
runs the pristine baseline /orig/prog and your /app/prog once each on the timing size,
compares their digests and times them as the verifier does: the CPU time (user + system)
of the whole run, generating the data included.
"""

import hashlib
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

LEN_TIMING = 768 << 20


def messages() -> list[bytes]:
    out = [b"", b"abc", b"a" * 55, b"a" * 56, b"a" * 64, b"a" * 119, b"\x00" * 1000]
    out += [bytes((i * 31 + 7) & 255 for i in range(n)) for n in (63, 65, 128, 4097, 100_003)]
    return out


def main() -> int:
    prog = "/app/prog"
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp, "msg.bin")
        for i, m in enumerate(messages()):
            f.write_bytes(m)
            r = subprocess.run([prog, "check", str(f), str(i % 7)], capture_output=True, text=True, timeout=120)
            got = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
            good = r.returncode == 0 and got == hashlib.sha256(m).hexdigest()
            print(f"  {'ok  ' if good else 'FAIL'} len={len(m)} offset={i % 7} {r.stderr.strip()}")
            ok &= good
        if not ok:
            print("correctness: FAILED")
            return 1
        print("correctness: ok")
        if "--quick" in sys.argv:
            return 0
    times, digests = {}, {}
    for label, p in (("baseline /orig/prog", "/orig/prog"), ("yours    /app/prog", prog)):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = subprocess.run([p, "bench", "1", str(LEN_TIMING)], capture_output=True, text=True, timeout=600)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r.returncode != 0:
            print(f"  {label}: FAILED {r.stderr.strip()}")
            return 1
        times[label] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        digests[label] = r.stdout
        print(f"  {label}: {times[label]:.3f} s CPU")
    if len(set(digests.values())) != 1:
        print("timing buffer: your digest differs from the baseline's")
        return 1
    base, mine = times.values()
    print(f"speedup (one unpaired run, noisy): {base / mine:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
