#!/usr/bin/env python3
"""TR-1, the toy register machine of the toy_isa_dot task: assembler and cycle-accurate simulator.

TR-1 is a single-issue, in-order pipeline with a register scoreboard: an
instruction issues once the previous one has issued and every register it reads
(and the one it writes) is ready; loads deliver their result 3 cycles after issue,
mul/mac 4 cycles, everything else 1 cycle; a taken branch or jump costs 2 extra
cycles. Values are signed 64-bit with wrap-around; 32 registers (r0 reads as 0);
16384 words of memory. The simulator executes each instruction when it issues, so
the architectural state is always that of program order, and counts the cycle of
every issue: the score is the cycle count when ``halt`` issues, plus one. The
verifier uses its own pristine copy of this file.

Usage: python3 toysim.py PROGRAM.asm [--seed N] [--trace]
"""

from __future__ import annotations

import argparse
import random
import re
import sys

NREGS = 32
MEM_WORDS = 16384
A_BASE, B_BASE, N = 4096, 8192, 512
MAX_PROGRAM = 256  # instructions (labels and comments are free)
MAX_CYCLES = 1_000_000
VALUE_MIN, VALUE_MAX = -32768, 32767
LAT_ALU, LAT_LOAD, LAT_MUL = 1, 3, 4
BRANCH_PENALTY = 2

# mnemonic -> operand syntax: r = register, i = immediate, m = imm(reg), l = label
FORMS: dict[str, str] = {
    "li": "ri", "mov": "rr", "add": "rrr", "sub": "rrr", "and": "rrr", "or": "rrr", "xor": "rrr",
    "addi": "rri", "slli": "rri", "srai": "rri", "mul": "rrr", "mac": "rrr",
    "ld": "rm", "st": "rm", "beq": "rrl", "bne": "rrl", "blt": "rrl", "bge": "rrl",
    "jmp": "l", "nop": "", "halt": "",
}  # fmt: skip
_LABEL = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")
_REG = re.compile(r"^r([0-9]|[12][0-9]|3[01])$")
_MEMOP = re.compile(r"^(.*)\((\s*r[0-9]+\s*)\)$")


class TRError(Exception):
    """An assembly error (names the line) or a run-time fault (names the cycle and line)."""


class Instr:
    __slots__ = ("op", "rd", "rs", "rt", "imm", "target", "line", "srcs", "dst", "lat")

    def __init__(self, op: str, line: int):
        self.op, self.line = op, line
        self.rd = self.rs = self.rt = self.imm = self.target = 0
        self.srcs: tuple[int, ...] = ()
        self.dst = -1  # register written, -1 for none
        self.lat = LAT_ALU


def wrap(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


def _reg(tok: str, lineno: int) -> int:
    m = _REG.match(tok.strip().lower())
    if not m:
        raise TRError(f"line {lineno}: expected a register r0..r31, got {tok.strip()!r}")
    return int(m.group(1))


def _imm(tok: str, lineno: int) -> int:
    try:
        v = int(tok.strip(), 0)
    except ValueError:
        raise TRError(f"line {lineno}: expected an integer, got {tok.strip()!r}") from None
    if not -(1 << 63) <= v < (1 << 63):
        raise TRError(f"line {lineno}: {v} does not fit in 64 bits")
    return v


def assemble(text: str) -> list[Instr]:
    labels: dict[str, int] = {}
    pending: list[tuple[str, list[str], int]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = re.split(r"[;#]", line, maxsplit=1)[0].strip()
        while ":" in line:
            name, line = line.split(":", 1)
            name, line = name.strip(), line.strip()
            if not _LABEL.match(name):
                raise TRError(f"line {lineno}: bad label name {name!r}")
            if name in labels:
                raise TRError(f"line {lineno}: label {name!r} defined twice")
            labels[name] = len(pending)
        if not line:
            continue
        parts = line.split(None, 1)
        op = parts[0].lower()
        if op not in FORMS:
            raise TRError(f"line {lineno}: unknown instruction {parts[0]!r}")
        ops = [x.strip() for x in parts[1].split(",")] if len(parts) > 1 and parts[1].strip() else []
        if len(ops) != len(FORMS[op]):
            raise TRError(f"line {lineno}: {op} takes {len(FORMS[op])} operand(s), got {len(ops)}")
        pending.append((op, ops, lineno))
        if len(pending) > MAX_PROGRAM:
            raise TRError(f"line {lineno}: program longer than {MAX_PROGRAM} instructions")
    prog: list[Instr] = []
    for op, ops, lineno in pending:
        ins = Instr(op, lineno)
        form = FORMS[op]
        if form == "ri":
            ins.rd, ins.imm = _reg(ops[0], lineno), _imm(ops[1], lineno)
        elif form == "rr":
            ins.rd, ins.rs = _reg(ops[0], lineno), _reg(ops[1], lineno)
        elif form == "rrr":
            ins.rd, ins.rs, ins.rt = (_reg(x, lineno) for x in ops)
        elif form == "rri":
            ins.rd, ins.rs, ins.imm = _reg(ops[0], lineno), _reg(ops[1], lineno), _imm(ops[2], lineno)
            if op in ("slli", "srai") and not 0 <= ins.imm <= 63:
                raise TRError(f"line {lineno}: shift amount must be 0..63, got {ins.imm}")
        elif form == "rm":
            m = _MEMOP.match(ops[1])
            if not m:
                raise TRError(f"line {lineno}: expected offset(register), got {ops[1]!r}")
            ins.rd = _reg(ops[0], lineno)
            ins.imm = _imm(m.group(1), lineno) if m.group(1).strip() else 0
            ins.rs = _reg(m.group(2), lineno)
        elif form in ("rrl", "l"):
            if form == "rrl":
                ins.rs, ins.rt = _reg(ops[0], lineno), _reg(ops[1], lineno)
            label = ops[-1]
            if label not in labels:
                raise TRError(f"line {lineno}: unknown label {label!r}")
            ins.target = labels[label]
        # scoreboard: which registers are read and written, and the result latency
        if form in ("ri",):
            ins.srcs, ins.dst = (), ins.rd
        elif form in ("rr", "rri"):
            ins.srcs, ins.dst = (ins.rs,), ins.rd
        elif op == "mac":
            ins.srcs, ins.dst, ins.lat = (ins.rd, ins.rs, ins.rt), ins.rd, LAT_MUL
        elif op == "mul":
            ins.srcs, ins.dst, ins.lat = (ins.rs, ins.rt), ins.rd, LAT_MUL
        elif form == "rrr":
            ins.srcs, ins.dst = (ins.rs, ins.rt), ins.rd
        elif op == "ld":
            ins.srcs, ins.dst, ins.lat = (ins.rs,), ins.rd, LAT_LOAD
        elif op == "st":
            ins.srcs = (ins.rd, ins.rs)
        elif form == "rrl":
            ins.srcs = (ins.rs, ins.rt)
        if ins.dst == 0:
            ins.dst = -1  # writes to r0 are discarded and never wait
        prog.append(ins)
    return prog


class Result:
    def __init__(self) -> None:
        self.regs = [0] * NREGS
        self.cycles = 0
        self.instructions = 0
        self.stall_data = 0  # cycles waiting for a register (load-use, multiply, WAW)
        self.stall_branch = 0  # cycles lost to taken branches


def run(prog: list[Instr], mem: list[int], trace: bool = False) -> Result:
    """Simulate until ``halt``; raises TRError on a fault."""
    res = Result()
    regs = res.regs
    ready = [0] * NREGS  # cycle at which each register's value can be read
    t = 0  # earliest cycle the next instruction may issue
    pc = 0
    n = len(prog)
    while True:
        if pc >= n:
            raise TRError(f"cycle {t}: control ran past the last instruction without halt")
        ins = prog[pc]
        op = ins.op
        if op == "halt":
            issue = max([t, *ready])  # drain: every outstanding result completes
            res.stall_data += issue - t
            res.instructions += 1
            res.cycles = issue + 1
            if trace:
                print(f"cycle {issue:6d} line {ins.line:3d} halt")
            return res
        issue = t
        for s in ins.srcs:
            if ready[s] > issue:
                issue = ready[s]
        if ins.dst >= 0 and ready[ins.dst] > issue:
            issue = ready[ins.dst]
        if issue >= MAX_CYCLES:
            raise TRError(f"more than {MAX_CYCLES} cycles (infinite loop?)")
        res.stall_data += issue - t
        res.instructions += 1
        next_pc = pc + 1
        penalty = 0
        if op == "ld" or op == "st":
            addr = regs[ins.rs] + ins.imm
            if not 0 <= addr < MEM_WORDS:
                raise TRError(
                    f"cycle {issue}, line {ins.line}: {op} address {addr} outside 0..{MEM_WORDS - 1}"
                )
            if op == "ld":
                val = mem[addr]
            else:
                mem[addr] = regs[ins.rd]
        elif op == "mac":
            val = wrap(regs[ins.rd] + regs[ins.rs] * regs[ins.rt])
        elif op == "addi":
            val = wrap(regs[ins.rs] + ins.imm)
        elif op == "add":
            val = wrap(regs[ins.rs] + regs[ins.rt])
        elif op == "sub":
            val = wrap(regs[ins.rs] - regs[ins.rt])
        elif op == "mul":
            val = wrap(regs[ins.rs] * regs[ins.rt])
        elif op == "li":
            val = ins.imm
        elif op == "mov":
            val = regs[ins.rs]
        elif op == "and":
            val = regs[ins.rs] & regs[ins.rt]
        elif op == "or":
            val = regs[ins.rs] | regs[ins.rt]
        elif op == "xor":
            val = regs[ins.rs] ^ regs[ins.rt]
        elif op == "slli":
            val = wrap(regs[ins.rs] << ins.imm)
        elif op == "srai":
            val = regs[ins.rs] >> ins.imm
        elif op in ("beq", "bne", "blt", "bge", "jmp"):
            a, b = regs[ins.rs], regs[ins.rt]
            taken = (
                op == "jmp"
                or (op == "beq" and a == b)
                or (op == "bne" and a != b)
                or (op == "blt" and a < b)
                or (op == "bge" and a >= b)
            )
            if taken:
                next_pc = ins.target
                penalty = BRANCH_PENALTY
        if ins.dst >= 0:
            regs[ins.dst] = val
            ready[ins.dst] = issue + ins.lat
        if trace:
            print(
                f"cycle {issue:6d} line {ins.line:3d} {op:5s} stall={issue - t} {'taken' if penalty else ''}"
            )
        res.stall_branch += penalty
        t = issue + 1 + penalty
        pc = next_pc


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
    prog: list[Instr], a: list[int], b: list[int], trace: bool = False
) -> tuple[bool, Result | None, str]:
    """(correct, result, message) for one vector pair."""
    want = wrap(sum(x * y for x, y in zip(a, b, strict=True)))
    try:
        res = run(prog, make_memory(a, b), trace)
    except TRError as exc:
        return False, None, f"fault: {exc}"
    if res.regs[1] != want:
        return False, res, f"wrong result: r1 = {res.regs[1]}, dot product = {want}"
    return True, res, "ok"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="Run a TR-1 program on one random vector pair.")
    ap.add_argument("program", nargs="?", default="/app/dot.asm")
    ap.add_argument("--seed", type=int, default=1, help="seed of the random vectors (default 1)")
    ap.add_argument("--trace", action="store_true", help="print the issue cycle of every instruction")
    args = ap.parse_args(argv[1:])
    try:
        with open(args.program) as fh:
            prog = assemble(fh.read())
    except (OSError, TRError) as exc:
        print(f"ERROR: {exc}")
        return 1
    a, b = random_vectors(random.Random(args.seed))
    ok, res, msg = evaluate(prog, a, b, args.trace)
    stats = ""
    if res is not None:
        stats = (
            f"; cycles={res.cycles} instructions={res.instructions} "
            f"data-stall cycles={res.stall_data} branch-penalty cycles={res.stall_branch}"
        )
    print(f"{'OK' if ok else 'FAIL'}: {msg}{stats}; program {len(prog)} instructions (seed {args.seed})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
