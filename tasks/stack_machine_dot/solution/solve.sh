#!/bin/bash
# Reference solution: auto-increment loads, fused multiply-accumulate, peeled first
# product, 17x unrolled loop with a 4-instruction exit test: 62 instructions, 832 executed.
set -euo pipefail
python3 - > /app/program.sm <<'PY'
print("; A at 1024..1279, B at 2048..2303: walk them with the auto-increment registers")
print("        push 1024\n        setp\n        push 2048\n        setq")
print("; peel element 0: its product starts the accumulator (no 'push 0' needed)")
print("        ldp\n        ldq\n        mul")
print("; 255 = 15 * 17 remaining elements: 17 multiply-accumulates per loop trip")
print("loop:")
for _ in range(17):
    print("        ldp\n        ldq\n        mac")
print("; leave the loop when P has reached the end of A (1280)")
print("        getp\n        push -1280\n        add\n        jnz loop")
PY
bash /app/check.sh
