"""``looplab view`` on a job while it runs, in headless Chromium: live updates without a reload."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from report_helpers import CHROMIUM, CHROMIUM_FLAGS, CLIMB, LOOPLAB, browser, keep_screenshot

SLOW_CLIMB = """\
- {at: 1.0, write: {path: /app/value.txt, content: "1\\n"}}
- {dev_check: true}
- {at: 3.0, write: {path: /app/value.txt, content: "3\\n"}}
- {dev_check: true}
- {at: 5.0, write: {path: /app/value.txt, content: "5\\n"}}
- {dev_check: true}
- {at: 7.0, write: {path: /app/value.txt, content: "7\\n"}}
- {dev_check: true}
- {at: 9.0, finish: true}
"""


def _wait(cond, timeout: float, what: str):  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_viewer_updates_live(tmp_path: Path) -> None:
    script = tmp_path / "slow.yaml"
    script.write_text(SLOW_CLIMB)
    env = {**os.environ, "LOOPLAB_CORE_CLAIMS": "0"}
    job = subprocess.Popen(
        [
            *LOOPLAB,
            "run",
            "-p",
            str(CLIMB),
            "-a",
            "replay",
            "--ak",
            f"script={script}",
            "-k",
            "2",
            "-n",
            "2",
            "--agent-timeout",
            "20",
            "--jobs-dir",
            str(tmp_path),
            "--job-name",
            "live",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    viewer = None
    try:
        job_dir = tmp_path / "live"
        _wait(lambda: job_dir.is_dir(), 60, "the job folder")
        viewer = subprocess.Popen(
            [*LOOPLAB, "view", str(job_dir), "--port", "0"], stdout=subprocess.PIPE, text=True
        )
        line = viewer.stdout.readline()
        url = line.split()[2]
        assert url.startswith("http://127.0.0.1:")
        with browser() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            try:
                page = b.new_page(viewport={"width": 1300, "height": 900})
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                navigations: list[str] = []
                page.on(
                    "framenavigated", lambda f: navigations.append(f.url) if f == page.main_frame else None
                )
                page.goto(url)
                page.evaluate("window.__sameDocument = 'yes'")
                counts = page.locator("#running-table td.checkpoint-count")

                def checkpoints() -> int:
                    try:
                        return sum(int(c) for c in counts.all_inner_texts())
                    except ValueError:
                        return 0

                _wait(lambda: counts.count() == 2, 30, "two running trials on the page")
                first = checkpoints()
                _wait(lambda: checkpoints() > first, 30, "a new checkpoint to appear without a reload")
                assert page.evaluate("window.__sameDocument") == "yes"
                shot = tmp_path / "viewer.png"
                page.screenshot(path=str(shot), full_page=True)
                keep_screenshot(shot, "viewer.png")
                # a running trial's trajectory page grows by itself
                name = page.locator("#running-table tr[data-trial]").first.get_attribute("data-trial")
                tpage = b.new_page()
                tpage.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                tpage.on("pageerror", lambda e: errors.append(str(e)))
                tpage.goto(f"{url}trial/{name}")
                tpage.evaluate("window.__sameDocument = 'yes'")
                n0 = tpage.locator("#events .event").count()
                _wait(lambda: tpage.locator("#events .event").count() > n0, 30, "new trajectory events")
                assert tpage.evaluate("window.__sameDocument") == "yes"
                # when the job ends, the leaderboard fills in, still without a reload
                assert job.wait(timeout=120) == 0, job.stdout.read()
                cell = page.locator('#leaderboard-table tr[data-agent="replay"] td.mean-reward')
                _wait(lambda: page.locator("#running-table").count() == 0, 30, "the running trials to finish")
                _wait(lambda: cell.inner_text() == "0.700", 10, "the leaderboard to show the finished job")
                assert (
                    page.locator('#leaderboard-table tr[data-agent="replay"]').inner_text().split("\t")[6]
                    == "2/2"
                )
                assert page.evaluate("window.__sameDocument") == "yes"
                assert navigations == [url]
                assert errors == []
            finally:
                b.close()
        with urllib.request.urlopen(url + "api/report.json") as r:
            rep = json.loads(r.read())
        assert [t["status"] for t in rep["trials"]] == ["completed", "completed"]
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url + "trial/..%2F..%2Fetc")
    finally:
        if viewer is not None:
            viewer.terminate()
            viewer.wait(10)
        if job.poll() is None:
            job.kill()
            job.wait(10)
