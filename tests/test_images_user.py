"""The image's USER in agent sandboxes: the uid the agent sees, as in its container; never host root."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli, trial_results
from test_images_build import make_task

SOLVE = """#!/bin/bash
{ id -u; id -g; stat -c %u /app; wc -l < /proc/self/uid_map; awk '{print $1, $3}' /proc/self/uid_map
  touch /usr/x 2>/dev/null && echo wrote-usr; } > /app/who.txt
exit 0
"""
TEST_SH = "#!/bin/bash\ncat /app/who.txt\necho 1 > /logs/verifier/reward.txt\n"


def test_agent_sees_the_images_user_mapped_onto_the_unprivileged_sandbox_uid(
    tmp_path: Path, image_registry
) -> None:
    deb = image_registry.ensure("debian")
    suite = tmp_path / "suite"
    named = make_task(
        suite / "named",
        f"FROM {deb}\nRUN echo 'app:x:1234:4321::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:4321:' >> /etc/group\n"
        "WORKDIR /app\nUSER app\n",
    )
    plain = make_task(suite / "plain", f"FROM {deb}\nWORKDIR /app\n")
    for t in (named, plain):
        (t / "tests" / "test.sh").write_text(TEST_SH)
        (t / "solution").mkdir()
        (t / "solution" / "solve.sh").write_text(SOLVE)
    jobs = tmp_path / "jobs"
    r = run_cli(
        "run",
        "-p",
        str(suite),
        "-a",
        "oracle",
        "--jobs-dir",
        str(jobs),
        "--job-name",
        "j",
        "--editable",
        "who.txt",
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    seen = {}
    for t in trial_results(jobs / "j"):
        seen[t["task_name"]] = (
            (jobs / "j" / t["trial_name"] / "verifier" / "test-stdout.txt").read_text().split("\n")
        )
    # one uid mapped (the sandbox's own unprivileged host uid, which owns the bound /app), seen as USER's
    assert seen["named"][:5] == ["1234", "4321", "1234", "1", "1234 1"]
    assert seen["plain"][:5] == ["0", "0", "0", "1", "0 1"]  # no USER: root, as in the container
    assert "wrote-usr" not in seen["plain"]  # root in name only: the image's /usr stays read-only
