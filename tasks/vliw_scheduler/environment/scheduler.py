#!/usr/bin/env python3
"""VLIW bundle scheduler. Reads {"instances": [...]} as JSON on stdin, writes {"schedules": [...]}.

Starting point: one operation per bundle, in program order; each operation waits
until its dependencies' results are ready. Correct, but it leaves every other slot
of every bundle empty.
"""

import json
import sys


def schedule(inst: dict) -> list[int]:
    ops = inst["ops"]
    cycles: list[int] = []
    t = 0
    for o in ops:
        c = t
        for d in o["deps"]:
            c = max(c, cycles[d] + ops[d]["latency"])
        cycles.append(c)
        t = c + 1
    return cycles


def main() -> None:
    data = json.load(sys.stdin)
    json.dump({"schedules": [schedule(inst) for inst in data["instances"]]}, sys.stdout)


if __name__ == "__main__":
    main()
