"""Harbor's separate verifier environment, run for real: ``environment_mode = "separate"`` with a
``[verifier.environment]`` table starts test.sh from its own image (``tests/Dockerfile``, built in
image mode with ``tests/`` as its context; the image holds ``/tests``), with only the declared
artifacts handed over from the agent's environment at their source paths, the table's ``env`` set,
and nothing else of the agent's (its image, other files, ``/tmp``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import FIXTURES, run_job, trial_results


def test_a_separate_verifier_runs_in_its_own_image_on_the_artifacts_only(
    tmp_path: Path, image_registry
) -> None:
    task, jobs = tmp_path / "separate_verifier", tmp_path / "jobs"
    shutil.copytree(FIXTURES / "harbor" / "separate_verifier", task)
    image = f"python:3.11-bookworm={image_registry.ensure('python')}"
    r = run_job(task, jobs, "oracle", "nop", extra=["--image-map", image], timeout=900)
    results = {res["agent"]: res for res in trial_results(jobs / "j")}
    assert set(results) == {"oracle", "nop"}, r.stderr + r.stdout
    ok, nop = results["oracle"], results["nop"]
    assert ok["status"] == "completed" and ok["reward"] == 1.0, ok
    vr = ok["verifier_result"]
    assert vr["extra"]["own_image"] is True and vr["extra"]["agent_image"] is False
    assert vr["extra"]["other_file"] is False and vr["extra"]["agent_tmp"] is False
    assert vr["extra"]["who"] == "verifier-env"
    assert vr["extra"]["verifier_environment"]["mode"] == "separate"
    assert vr["extra"]["verifier_environment"]["own_environment"] is True
    assert vr["extra"]["artifacts_restored"] == ["/app/out.txt"]
    assert vr["carried_files"] == [] and vr["sealed"] is True
    assert nop["reward"] == 0.0 and nop["status"] == "completed", nop
