"""A task's ``healthcheck``, run in the agent's sandbox before the agent, as Docker runs HEALTHCHECK.

The command is run until it exits 0 (healthy). During ``start_period_sec`` a failure does
not count and the next check follows after ``start_interval_sec``; after it, checks follow
every ``interval_sec`` and ``retries`` consecutive failures make the environment unhealthy
(``HealthcheckFailed``, the agent does not run). Each check is stopped after ``timeout_sec``.
"""

from __future__ import annotations

import time
from typing import Any

from looplab import cancel
from looplab.errors import LooplabError
from looplab.sandbox.base import Sandbox
from looplab.tasks.model import Healthcheck


class HealthcheckFailed(LooplabError):
    """The environment never became healthy."""


def wait_healthy(sandbox: Sandbox, hc: Healthcheck, cwd: str, where: str = "healthcheck") -> dict[str, Any]:
    """Run ``hc`` in ``sandbox`` until healthy; the record of the checks, or ``HealthcheckFailed``."""
    t0 = time.monotonic()
    checks: list[dict[str, Any]] = []
    failures = 0
    while True:
        cancel.check()
        r = sandbox.exec(hc.command, timeout=hc.timeout_sec, cwd=cwd)
        in_start = time.monotonic() - t0 < hc.start_period_sec
        checks.append(
            {
                "at_s": round(time.monotonic() - t0, 3),
                "exit_code": r.exit_code,
                "timed_out": r.timed_out,
                "in_start_period": in_start,
                "output_tail": (r.stdout + r.stderr)[-500:],
            }
        )
        record = {"command": hc.command, "healthy": r.exit_code == 0 and not r.timed_out, "checks": checks}
        if record["healthy"]:
            record["duration_s"] = round(time.monotonic() - t0, 3)
            return record
        if not in_start:
            failures += 1
            if failures >= hc.retries:
                last = "timed out" if r.timed_out else f"exited {r.exit_code}"
                raise HealthcheckFailed(
                    f"{where}: {hc.command!r} failed {failures} times in a row (last {last}): "
                    "the environment is unhealthy"
                )
        time.sleep(hc.start_interval_sec if in_start else hc.interval_sec)
