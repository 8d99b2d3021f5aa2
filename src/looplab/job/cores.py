"""Give each concurrent trial its own CPU cores, so timings don't interfere.

``CoreAllocator.acquire(n)`` blocks until ``n`` cores no other trial holds are
free and returns them; ``release`` gives them back. A request for more cores
than the machine has is capped at the machine.
"""

from __future__ import annotations

import math
import os
import threading
import time


class CoreAllocator:
    def __init__(self, cores: list[int] | None = None):
        self.cores = sorted(cores if cores is not None else os.sched_getaffinity(0))
        self._free = list(self.cores)
        self._cond = threading.Condition()
        self.waited_s: float = 0.0

    def want(self, cpus: float) -> int:
        return max(1, min(len(self.cores), math.ceil(cpus)))

    def acquire(self, cpus: float) -> list[int]:
        n = self.want(cpus)
        t0 = time.monotonic()
        with self._cond:
            while len(self._free) < n:
                self._cond.wait()
            got, self._free = self._free[:n], self._free[n:]
        self.waited_s += time.monotonic() - t0
        return got

    def release(self, cores: list[int]) -> None:
        with self._cond:
            self._free = sorted(self._free + list(cores))
            self._cond.notify_all()
