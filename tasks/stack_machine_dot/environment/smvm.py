#!/usr/bin/env python3
"""SM-1, the stack machine of the stack_machine_dot task: assembler, interpreter and local runner.

A program is text, one instruction per line (``op [argument]``), with ``label:``
definitions, ``;`` or ``#`` comments, at most 64 instructions. The machine has a
data stack (at most 256 values), 4096 words of memory, two address registers P
and Q, and signed 64-bit wrap-around arithmetic. Every executed instruction costs
one step; execution ends at ``halt`` or when control runs past the last
instruction. The verifier uses its own pristine copy of this file.

Usage: python3 smvm.py PROGRAM.sm [--seed N] [--trace]
  runs the program on vectors drawn from the seed and prints the steps and whether
  the result (top of stack) equals the dot product.
"""

from __future__ import annotations

import argparse
import random
import re
import sys

MEM_WORDS = 4096
A_BASE, B_BASE, N = 1024, 2048, 256
MAX_PROGRAM = 64  # instructions (labels and comments are free)
MAX_STACK = 256
MAX_STEPS = 200_000
VALUE_MIN, VALUE_MAX = -32768, 32767

# opcode -> (number of stack values popped, takes an argument)
OPS: dict[str, tuple[int, str | None]] = {
    "push": (0, "int"), "pop": (1, None), "dup": (1, None), "over": (2, None),
    "swap": (2, None), "rot": (3, None), "add": (2, None), "sub": (2, None),
    "mul": (2, None), "mac": (3, None), "load": (1, None), "store": (2, None),
    "setp": (1, None), "setq": (1, None), "getp": (0, None), "getq": (0, None),
    "ldp": (0, None), "ldq": (0, None), "jmp": (0, "label"), "jz": (1, "label"),
    "jnz": (1, "label"), "halt": (0, None),
}  # fmt: skip
CODES = {name: i for i, name in enumerate(OPS)}
_LABEL = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")


class SMError(Exception):
    """An assembly error (names the line) or a run-time fault (names the step and pc)."""


def wrap(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


def assemble(text: str) -> list[tuple[int, int, int]]:
    """Program text -> list of (opcode, argument, source line)."""
    labels: dict[str, int] = {}
    raw: list[tuple[str, str | None, int]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = re.split(r"[;#]", line, maxsplit=1)[0].strip()
        while ":" in line:
            name, line = line.split(":", 1)
            name, line = name.strip(), line.strip()
            if not _LABEL.match(name):
                raise SMError(f"line {lineno}: bad label name {name!r}")
            if name in labels:
                raise SMError(f"line {lineno}: label {name!r} defined twice")
            labels[name] = len(raw)
        if not line:
            continue
        parts = line.split()
        op = parts[0].lower()
        if op not in OPS:
            raise SMError(f"line {lineno}: unknown instruction {parts[0]!r}")
        kind = OPS[op][1]
        if kind is None and len(parts) != 1:
            raise SMError(f"line {lineno}: {op} takes no argument")
        if kind is not None and len(parts) != 2:
            raise SMError(f"line {lineno}: {op} takes exactly one argument")
        raw.append((op, parts[1] if kind else None, lineno))
        if len(raw) > MAX_PROGRAM:
            raise SMError(f"line {lineno}: program longer than {MAX_PROGRAM} instructions")
    prog: list[tuple[int, int, int]] = []
    for op, arg, lineno in raw:
        val = 0
        if OPS[op][1] == "int":
            try:
                val = int(arg, 0)  # type: ignore[arg-type]
            except ValueError:
                raise SMError(f"line {lineno}: {op} needs an integer, got {arg!r}") from None
            if not -(1 << 63) <= val < (1 << 63):
                raise SMError(f"line {lineno}: {arg} does not fit in 64 bits")
        elif OPS[op][1] == "label":
            if arg not in labels:
                raise SMError(f"line {lineno}: unknown label {arg!r}")
            val = labels[arg]  # type: ignore[index]
        prog.append((CODES[op], val, lineno))
    return prog


def run(prog: list[tuple[int, int, int]], mem: list[int], trace: bool = False) -> tuple[list[int], int]:
    """Execute; returns (final stack, executed instructions). Raises SMError on a fault."""
    c = CODES
    PUSH, POP, DUP, OVER, SWAP, ROT = c["push"], c["pop"], c["dup"], c["over"], c["swap"], c["rot"]
    ADD, SUB, MUL, MAC, LOAD, STORE = c["add"], c["sub"], c["mul"], c["mac"], c["load"], c["store"]
    SETP, SETQ, GETP, GETQ, LDP, LDQ = c["setp"], c["setq"], c["getp"], c["getq"], c["ldp"], c["ldq"]
    JMP, JZ, JNZ, HALT = c["jmp"], c["jz"], c["jnz"], c["halt"]
    pops = [OPS[name][0] for name in OPS]
    names = list(OPS)
    st: list[int] = []
    p = q = 0
    pc = steps = 0
    n = len(prog)
    while pc < n:
        op, arg, lineno = prog[pc]
        steps += 1
        if steps > MAX_STEPS:
            raise SMError(f"more than {MAX_STEPS} steps (infinite loop?)")
        if len(st) < pops[op]:
            raise SMError(f"step {steps}, line {lineno}: {names[op]} on a stack of {len(st)} value(s)")
        if trace:
            print(f"{steps:6d} line {lineno:3d} {names[op]:5s} {arg if op in (PUSH, JMP, JZ, JNZ) else '':<6} "
                  f"P={p} Q={q} stack={st[-6:]}")  # fmt: skip
        pc += 1
        if op in (LDP, LDQ):
            a = p if op == LDP else q
            if not 0 <= a < MEM_WORDS:
                raise SMError(
                    f"step {steps}, line {lineno}: {names[op]} from address {a} outside 0..{MEM_WORDS - 1}"
                )
            st.append(mem[a])
            if op == LDP:
                p += 1
            else:
                q += 1
        elif op == MAC:
            z = st.pop()
            y = st.pop()
            st[-1] = wrap(st[-1] + y * z)
        elif op == PUSH:
            st.append(arg)
        elif op == ADD:
            y = st.pop()
            st[-1] = wrap(st[-1] + y)
        elif op == SUB:
            y = st.pop()
            st[-1] = wrap(st[-1] - y)
        elif op == MUL:
            y = st.pop()
            st[-1] = wrap(st[-1] * y)
        elif op == DUP:
            st.append(st[-1])
        elif op == OVER:
            st.append(st[-2])
        elif op == SWAP:
            st[-1], st[-2] = st[-2], st[-1]
        elif op == ROT:
            st.append(st.pop(-3))
        elif op == POP:
            st.pop()
        elif op == JMP:
            pc = arg
        elif op == JZ:
            if st.pop() == 0:
                pc = arg
        elif op == JNZ:
            if st.pop() != 0:
                pc = arg
        elif op == LOAD:
            a = st[-1]
            if not 0 <= a < MEM_WORDS:
                raise SMError(
                    f"step {steps}, line {lineno}: load from address {a} outside 0..{MEM_WORDS - 1}"
                )
            st[-1] = mem[a]
        elif op == STORE:
            a = st.pop()
            v = st.pop()
            if not 0 <= a < MEM_WORDS:
                raise SMError(f"step {steps}, line {lineno}: store to address {a} outside 0..{MEM_WORDS - 1}")
            mem[a] = v
        elif op == SETP:
            p = st.pop()
        elif op == SETQ:
            q = st.pop()
        elif op == GETP:
            st.append(p)
        elif op == GETQ:
            st.append(q)
        elif op == HALT:
            break
        if len(st) > MAX_STACK:
            raise SMError(f"step {steps}, line {lineno}: stack deeper than {MAX_STACK}")
    return st, steps


def make_memory(a: list[int], b: list[int]) -> list[int]:
    mem = [0] * MEM_WORDS
    mem[A_BASE : A_BASE + N] = a
    mem[B_BASE : B_BASE + N] = b
    return mem


def random_vectors(rng: random.Random) -> tuple[list[int], list[int]]:
    a = [rng.randint(VALUE_MIN, VALUE_MAX) for _ in range(N)]
    b = [rng.randint(VALUE_MIN, VALUE_MAX) for _ in range(N)]
    return a, b


def evaluate(
    prog: list[tuple[int, int, int]], a: list[int], b: list[int], trace: bool = False
) -> tuple[bool, int, str]:
    """(correct, steps, message) for one vector pair."""
    want = wrap(sum(x * y for x, y in zip(a, b, strict=True)))
    try:
        st, steps = run(prog, make_memory(a, b), trace)
    except SMError as exc:
        return False, 0, f"fault: {exc}"
    if not st:
        return False, steps, "the stack is empty at the end (the result must be on top)"
    if st[-1] != want:
        return False, steps, f"wrong result: top of stack {st[-1]}, dot product {want}"
    return True, steps, "ok"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="Run an SM-1 program on one random vector pair.")
    ap.add_argument("program", nargs="?", default="/app/program.sm")
    ap.add_argument("--seed", type=int, default=1, help="seed of the random vectors (default 1)")
    ap.add_argument("--trace", action="store_true", help="print every executed instruction")
    args = ap.parse_args(argv[1:])
    try:
        with open(args.program) as fh:
            prog = assemble(fh.read())
    except (OSError, SMError) as exc:
        print(f"ERROR: {exc}")
        return 1
    a, b = random_vectors(random.Random(args.seed))
    ok, steps, msg = evaluate(prog, a, b, args.trace)
    print(f"{'OK' if ok else 'FAIL'}: {msg}; {len(prog)} instructions in the program, "
          f"{steps} executed (seed {args.seed})")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
