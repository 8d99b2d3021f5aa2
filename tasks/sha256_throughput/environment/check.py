"""Local dev check for sha256_throughput (you may run it; the sealed verifier uses its own, hidden inputs).

check.sh builds /app/prog first. This compares sha256() against Python's hashlib on
a few fixed messages (various lengths, unaligned buffers), then (unless --quick)
times the pristine baseline /orig/prog and your /app/prog once each on the timing
size, as the verifier does (the CPU time of the sha256 call, measured by the driver).
"""

import hashlib
import json
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
        exp = Path(tmp, "expected.hex")
        h = hashlib.sha256()
        with subprocess.Popen(["/orig/prog", "gen", "1", str(LEN_TIMING)], stdout=subprocess.PIPE) as gen:
            while chunk := gen.stdout.read(1 << 22):
                h.update(chunk)
        exp.write_text(h.hexdigest() + "\n")
        times = {}
        for label, p in (("baseline /orig/prog", "/orig/prog"), ("yours    /app/prog", prog)):
            r = subprocess.run([p, "bench", "1", str(LEN_TIMING), str(exp)], capture_output=True, text=True, timeout=600)
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
