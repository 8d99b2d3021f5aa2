#!/usr/bin/env python3
"""VLIW bundle scheduler (reference): cycle-by-cycle list scheduling with critical-path priority.

Reads {"instances": [...]} as JSON on stdin, writes {"schedules": [...]}. For each
instance: compute every operation's *height* (the latency-weighted longest path
from its issue to the end of the block). Then fill bundles cycle by cycle: among
the operations whose dependencies have all delivered their results by this cycle,
take the highest first (ties: more successors, then program order) while the
bundle has room (total width and the slot count of the operation's unit class).
"""

import heapq
import json
import sys


def schedule(inst: dict) -> list[int]:
    ops = inst["ops"]
    n = len(ops)
    width, slots = inst["width"], inst["units"]
    succ: list[list[int]] = [[] for _ in range(n)]
    for i, o in enumerate(ops):
        for d in o["deps"]:
            succ[d].append(i)
    height = [0] * n
    for i in range(n - 1, -1, -1):
        height[i] = ops[i]["latency"] + max((height[s] for s in succ[i]), default=0)
    missing = [len(set(o["deps"])) for o in ops]
    earliest = [0] * n
    cycles = [-1] * n
    waiting: list[tuple[int, int]] = []  # (earliest cycle, op): dependencies issued, results pending
    ready: list[tuple[int, int, int]] = []  # (-height, -successors, op): can issue now
    for i in range(n):
        if missing[i] == 0:
            heapq.heappush(waiting, (0, i))
    t = done = 0
    while done < n:
        while waiting and waiting[0][0] <= t:
            _, i = heapq.heappop(waiting)
            heapq.heappush(ready, (-height[i], -len(succ[i]), i))
        used: dict[str, int] = {}
        issued = 0
        deferred = []
        while ready and issued < width:
            item = heapq.heappop(ready)
            i = item[2]
            u = ops[i]["unit"]
            if used.get(u, 0) >= slots[u]:
                deferred.append(item)
                continue
            used[u] = used.get(u, 0) + 1
            issued += 1
            cycles[i] = t
            done += 1
            for s in succ[i]:
                earliest[s] = max(earliest[s], t + ops[i]["latency"])
            for s in set(succ[i]):
                missing[s] -= 1
                if missing[s] == 0:
                    heapq.heappush(waiting, (earliest[s], s))
        for item in deferred:
            heapq.heappush(ready, item)
        t += 1
    return cycles


def main() -> None:
    data = json.load(sys.stdin)
    json.dump({"schedules": [schedule(inst) for inst in data["instances"]]}, sys.stdout)


if __name__ == "__main__":
    main()
