"""Shared by the report tests: real jobs on the climb fixture, rescoring, and headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
CLIMB = FIXTURES / "climb"
SCRIPTS = FIXTURES / "climb_scripts"
DOCS = Path(__file__).parent.parent / "docs"
LOOPLAB = [str(Path(sys.executable).parent / "looplab")]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# replay script → the failure mode its trial must be classified as
SCRIPTED = {
    "premature": "premature_stop",
    "exhaustion": "budget_exhaustion",
    "climber": "steady_climber",
    "broke": "broke_correctness",
    "noprogress": "no_progress",
}


def looplab(
    *args: str, check: bool = True, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([*LOOPLAB, *args], capture_output=True, text=True, timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"looplab {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def run_jobs(jobs_dir: Path) -> dict[str, Path]:
    """Run the report fixture jobs side by side (real runs), then rescore every trial; return job dirs."""
    runs: dict[str, list[str]] = {"base": ["-a", "oracle", "-a", "nop", "-k", "2", "-n", "2"]}
    for name in SCRIPTED:
        runs[name] = ["-a", "replay", "--ak", f"script={SCRIPTS / (name + '.yaml')}"]

    # These agents mostly sleep: let the six jobs share cores rather than queue for them host-wide.
    env = {**os.environ, "LOOPLAB_CORE_CLAIMS": "0"}

    def one(item: tuple[str, list[str]]) -> None:
        name, extra = item
        looplab("run", "-p", str(CLIMB), "--jobs-dir", str(jobs_dir), "--job-name", name, *extra, env=env)

    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        list(pool.map(one, runs.items()))
    trial_dirs = [d for j in runs for d in sorted((jobs_dir / j).iterdir()) if d.is_dir()]
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda d: looplab("rescore", str(d)), trial_dirs))
    return {name: jobs_dir / name for name in runs}


def browser():
    """A headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    sync = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    return sync.sync_playwright()


def keep_screenshot(src: Path, name: str) -> None:
    """Copy a screenshot into docs/ when LOOPLAB_SCREENSHOTS=docs (how docs/*.png are refreshed)."""
    if os.environ.get("LOOPLAB_SCREENSHOTS") == "docs":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(src, DOCS / name)
