#!/bin/bash
# Reference solution: 64 elements per loop trip, software-pipelined loads, two accumulators,
# one pointer for both vectors: 1574 cycles (see reference.md).
set -euo pipefail
python3 - > /app/dot.asm <<'PY'
K = 64
out = []
w = out.append
w("; reference: 64 elements per trip, software-pipelined, two accumulators")
w("        li   r2, 4096       ; pointer into A; B[i] is at 4096 + A's address")
w("        li   r9, 4608       ; end of A")
w("        li   r1, 0          ; accumulator 0 (even elements)")
w("        li   r3, 0          ; accumulator 1 (odd elements)")
w("loop:")
def a(e): return 10 + 2 * (e % 4)
def b(e): return 11 + 2 * (e % 4)
def acc(e): return 1 if e % 2 == 0 else 3
w(f"        ld   r{a(0)}, 0(r2)")
w(f"        ld   r{b(0)}, 4096(r2)")
for e in range(1, K):
    w(f"        ld   r{a(e)}, {e}(r2)")
    w(f"        ld   r{b(e)}, {4096 + e}(r2)")
    if e == K - 1:
        w(f"        mac  r{acc(e-1)}, r{a(e-1)}, r{b(e-1)}")
        w(f"        addi r2, r2, {K}")
    else:
        w(f"        mac  r{acc(e-1)}, r{a(e-1)}, r{b(e-1)}")
w(f"        mac  r{acc(K-1)}, r{a(K-1)}, r{b(K-1)}")
w("        bne  r2, r9, loop")
w("        add  r1, r1, r3")
w("        halt")
print("\n".join(out))
PY
bash /app/check.sh
