"""The reference program: the task's own solution applied to the pristine program, by the harness.

A log-speedup reward divides by the reference solution's speedup ``s_ref``. Rather than
a constant measured once on someone's CPU, the candidate runner times the reference in
the same rounds as the baseline and the candidate (``verify.measured``). This module
makes that reference program from the task's ``solution/`` with no per-task declaration:

1. a copy of the pristine working folder (``/app`` of the built environment, never the
   candidate's) is bound writable at the working folder of a trusted one-shot jail whose
   root is the verifier's root, with ``solution/`` read-only at ``/solution``;
   ``bash /solution/solve.sh`` runs there, as the oracle agent runs it (Harbor's
   convention: solve.sh writes into ``/app``);
2. what the solution wrote is carried as an agent's work is: only the files matching the
   task's editable globs, laid over a fresh pristine copy (``verify.editable``);
3. that folder is cached under ``$LOOPLAB_CACHE_DIR/references``, one per task content
   hash (``measure.calibrate.task_hash``) and built environment (its key): later
   verifications of the same task reuse it.

The candidate never sees it: the folder is bound (read-only, over the working folder)
only into the reference program's own jails. A solve.sh that fails is an infrastructure
failure (``LooplabError``), not the candidate's.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from looplab import settings
from looplab.errors import LooplabError
from looplab.fsutil import chown_tree, make_world_readable, remove_tree
from looplab.measure.calibrate import task_hash
from looplab.sandbox.base import sandbox_uid
from looplab.sandbox.jail import JailSpec, run_jail
from looplab.tasks.loader import Task
from looplab.verify import editable as editable_mod
from looplab.verify.run_declaration import SOLUTION

PROGRAM = SOLUTION  # the reference program's name among the timed (or exact mode's) programs
SOLVE = "solve.sh"
SOLVE_TIMEOUT_S = 600.0


def has_reference(task: Task) -> bool:
    """Whether the task ships a solution the harness can apply (``solution/solve.sh``)."""
    return (task.solution_dir / SOLVE).is_file()


def reference_dir(task: Task, env_key: str) -> Path:
    """Where the derived reference of this version of ``task``, on the environment ``env_key``, is cached."""
    return settings.current().cache_dir / "references" / f"{task.name}-{task_hash(task)}-{env_key[:12]}"


def derive_reference(
    task: Task,
    pristine_workdir: Path,
    workdir: str,
    root: Path,
    cores: list[int] | None,
    env: dict[str, str],
    runtime_ro: list[tuple[Path, str]],
    scratch: Path,
    env_key: str = "",
) -> tuple[Path, bool]:
    """The reference's working folder (host path) and whether it came from the cache.

    ``pristine_workdir``: the built environment's working folder (host); ``workdir``: its
    path in jails (``/app``); ``root``: the verifier's root (the jail's ``/``, its working
    folder covered by the copy); ``scratch``: a host folder for the work; ``env_key``: the built
    environment's key (the pristine files in the cached folder are that environment's).
    """
    final = reference_dir(task, env_key)
    if final.is_dir():
        return final, True
    if not has_reference(task):
        raise LooplabError(f"{task.path}: no solution/{SOLVE}: no reference program to time")
    work = Path(scratch) / f"reference-{uuid.uuid4().hex[:8]}"
    app, sol = work / "app", work / "solution"
    work.mkdir(parents=True)
    os.chmod(work, 0o711)
    try:
        shutil.copytree(pristine_workdir, app, symlinks=True)
        shutil.copytree(task.solution_dir, sol, symlinks=True)
        make_world_readable(sol)
        if os.geteuid() == 0:
            uid, gid = sandbox_uid()
            chown_tree(app, uid, gid)
        spec = JailSpec(
            root=Path(root),
            hide=("tests", "logs", "solution"),
            ro=[*runtime_ro, (sol, "/solution")],
            rw=[(app, workdir)],
            env=env,
            cwd=workdir,
            cpus=cores,
            memory_mb=max(task.config.environment.memory_mb or 0, 2048),
            pids_max=256,
            timeout_s=min(float(task.config.agent.timeout_sec or SOLVE_TIMEOUT_S), SOLVE_TIMEOUT_S),
        )
        r = run_jail(["/bin/bash", f"/solution/{SOLVE}"], spec)
        if not r.ok:
            why = "timed out" if r.timed_out else f"exited {r.exit_code}"
            tail = (r.stderr or r.stdout).strip().replace("\n", " | ")[-400:]
            raise LooplabError(
                f"{task.solution_dir / SOLVE}: the reference solution {why} when the harness applied it "
                f"to the pristine program: {tail or '(no output)'}"
            )
        globs = editable_mod.editable_globs(task, None)
        norm = editable_mod.normalize_globs(globs, workdir) if globs else None
        carried = editable_mod.collect(app, norm)
        out = work / "reference"
        shutil.copytree(pristine_workdir, out, symlinks=True)
        editable_mod.overlay(out, carried, norm)
        make_world_readable(out)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(out, final)  # atomic: a concurrent verification's copy may have won
        except OSError:
            if not final.is_dir():
                raise
        return final, False
    finally:
        remove_tree(work)
