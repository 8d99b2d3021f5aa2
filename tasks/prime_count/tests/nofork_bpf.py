"""Write the seccomp filter of the nested jail (tests/run_timed.sh) to the file named by argv[1].

A classic-BPF program for x86-64: fork, vfork and clone of a new process fail with EPERM,
clone3 fails with ENOSYS (so libc falls back to clone), threads are allowed, every other
architecture and the x32 ABI are killed. The same filter as tasks/hash_join/tests/verify.py.
"""

import struct
import sys

LD, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
ALLOW, KILL, EPERM, ENOSYS = 0x7FFF0000, 0x80000000, 0x00050001, 0x00050026
PROG = [
    (LD, 0, 0, 4), (JEQ, 0, 11, 0xC000003E),  # arch must be x86-64
    (LD, 0, 0, 0), (JGE, 7, 0, 0x40000000),  # no x32 system calls
    (JEQ, 6, 0, 57), (JEQ, 5, 0, 58), (JEQ, 5, 0, 435),  # fork, vfork; clone3
    (JEQ, 0, 2, 56), (LD, 0, 0, 16), (JSET, 0, 1, 0x10000),  # clone: only CLONE_THREAD
    (RET, 0, 0, ALLOW), (RET, 0, 0, EPERM), (RET, 0, 0, ENOSYS), (RET, 0, 0, KILL),
]  # fmt: skip

with open(sys.argv[1], "wb") as f:
    f.write(b"".join(struct.pack("=HBBI", *ins) for ins in PROG))
