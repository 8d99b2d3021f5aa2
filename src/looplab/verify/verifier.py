"""The sealed verifier: score only what the agent was allowed to change.

A fresh sandbox is made from a private copy of the *pristine* environment layer
(read-only but for the working folder, /logs and /tmp when the task has a ``[looplab]``
section; wholly writable for foreign Harbor/AutoLab tasks, as their container would be).
Only the files matching the task's editable globs are copied in from the agent's
working folder; the task's ``tests/`` are merged into ``/tests``; ``/logs/verifier``
starts empty. ``/tests/test.sh`` runs under ``[verifier] timeout_sec`` with
``[verifier.env]`` set; then the reward file is read, measured rewards and reward
formulas are applied where the task asks for them, and every process is killed.
No reward file, a crash or a timeout is reward 0 with the reason, never an exception.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from looplab.environment.build import Environment, scratch_dir
from looplab.environment.task_env import resolve_env, task_env
from looplab.errors import LooplabError
from looplab.fsutil import atomic_write_json, remove_tree
from looplab.harbor import verifier_env
from looplab.harbor.artifacts import Collector
from looplab.harbor.steps import StepPlan
from looplab.measure.lock import own_cores_lock_dir
from looplab.netpolicy import Egress, NetworkPolicy, resolve_network
from looplab.sandbox.base import DEFAULT_MAX_FILE_MB, Sandbox, SandboxSpec
from looplab.sandbox.factory import make_sandbox, runtime_path, runtime_ro_binds
from looplab.tasks.loader import Task
from looplab.verify import editable as editable_mod
from looplab.verify import rebased
from looplab.verify.reward_file import ParsedReward, parse_reward_dir
from looplab.verify.roots import root_view, stage_verifier_root
from looplab.verify.runner import CandidateRunner, RunDeclaration, load_declaration

if TYPE_CHECKING:
    from looplab.verify.measured import MeasuredReward

LOCK_DIR_IN_SANDBOX = "/run/looplab-locks"


@dataclass
class VerifierResult:
    reward: float
    rewards: dict[str, Any]  # {"reward": r, **numeric metrics}
    reason: str | None = None
    sealed: bool = True
    exit_code: int | None = None
    timed_out: bool = False
    duration_s: float = 0.0
    reward_source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    measurement: dict[str, Any] | None = None
    carried_files: list[str] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)
    usage: dict[str, float] = field(default_factory=dict)
    # Harbor's named rewards: the keys reward.json wrote, and what ``reward`` is (a key or a mean)
    reward_keys: list[str] = field(default_factory=list)
    primary: str = "reward"
    network: dict[str, Any] = field(default_factory=dict)  # the policy and the destinations asked for

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def verify(
    task: Task,
    env: Environment,
    work_dir: Path,
    log_dir: Path,
    editable_override: list[str] | None = None,
    cores: list[int] | None = None,
    extra_env: dict[str, str] | None = None,
    gpus: list | None = None,  # GpuDevice records the trial holds (looplab.job.gpus)
    network: str = "task",
    step: StepPlan | None = None,
    artifacts: Collector | None = None,
    join: Callable[[SandboxSpec], None] | None = None,
    timeout_multiplier: float = 1.0,
) -> VerifierResult:
    """Verify the agent's work found in host folder ``work_dir`` (its /app).

    ``network``: ``task`` gives test.sh the task's verifier network policy (through the
    egress proxy, ``looplab.netpolicy``), ``deny`` none at all. ``step``: a step of a
    multi-step task (its tests, timeout and env; ``looplab.harbor.steps``). ``artifacts``:
    what test.sh leaves in ``/logs/artifacts`` is collected there. ``join``: puts test.sh's
    sandbox in the trial's services network (``looplab.harbor.services``). ``timeout_multiplier``
    scales the verifier's timeout (and the pristine runs'), as Harbor's ``--timeout-multiplier``
    scales every timeout of a trial."""
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    globs = editable_mod.editable_globs(task, editable_override)
    norm = editable_mod.normalize_globs(globs, env.workdir) if globs else None
    box_dir = scratch_dir(f"verify-{task.name}")
    root = box_dir / "root"
    sandbox: Sandbox | None = None
    result: VerifierResult | None = None
    views = contextlib.ExitStack()
    venv = verifier_env.resolve(task.config, task.path, step.name if step else None)
    cfg = task.config
    try:
        # a separate verifier with an environment of its own: that root, nothing uploaded, only the
        # artifacts (and the editable files, where declared) carried, as Harbor hands them over
        own = verifier_env.build(task, venv) if venv.own else None
        views.enter_context(root_view(own or env, root))
        carried = editable_mod.collect(Path(work_dir), norm if own is None or norm else [])
        wd_host = root / env.workdir.lstrip("/")
        if own is None or norm:
            editable_mod.overlay(wd_host, carried, norm)
        stage_verifier_root(task, root, step.tests_dirs if step else None, upload=own is None)
        verifier_logs = root / "logs" / "verifier"
        timeout = (step.verifier_timeout_sec if step else cfg.verifier.timeout_sec) * timeout_multiplier
        if own is not None and venv.section is not None:
            run_env = {**own.env, **resolve_env(venv.section.env)}
            cfg = cfg.model_copy(update={"environment": venv.section})  # its resources and network
        else:
            run_env = {**env.env, **task_env(cfg)}
        workdir = (own or env).workdir
        run_env.update(step.verifier_env if step else cfg.verifier.env)
        run_env.update(extra_env or {})
        run_env.update(
            {
                "PATH": run_env.get("PATH", runtime_path()),
                "LOOPLAB_VERIFIER": "1",
                "LOOPLAB_CORES": ",".join(map(str, cores or sorted(os.sched_getaffinity(0)))),
                "LOOPLAB_LOCK_DIR": LOCK_DIR_IN_SANDBOX,
            }
        )
        # looplab-native tasks (a [looplab] section) get a read-only pristine root: what the
        # candidate runs cannot rewrite /orig, /tests or the verifier's helpers. Foreign
        # Harbor/AutoLab tasks keep a writable private copy, as in their container.
        locked = task.native
        writable = sorted({env.workdir, "/logs", *cfg.looplab.writable}) if locked else []
        decl = (
            load_declaration(task.tests_dir)
            if locked and cfg.looplab.measure in ("paired", "instructions", "reported")
            else None
        )
        if decl is not None and (decl.mode == "exact") != (cfg.looplab.measure == "reported"):
            raise LooplabError(
                f"{task.tests_dir / 'run.toml'}: field mode: {decl.mode!r} does not fit measure = {cfg.looplab.measure!r}"  # noqa: E501
                " (timed goes with 'paired' or 'instructions', exact with 'reported')"
            )
        if decl is not None:
            # the task declares its runs: the harness builds, checks and times every program in
            # jails of its own; test.sh (the plain-Harbor fallback) is not run
            result = _verify_declared(task, decl, env, root, box_dir, cores, log_dir)
            _write_runner_log(result, log_dir)
            result.carried_files = sorted(carried.files)
            result.skipped_files = carried.skipped
            result.sealed = globs is not None
        else:
            for w in writable:
                (root / w.lstrip("/")).mkdir(parents=True, exist_ok=True)
            spec = SandboxSpec(
                root=root,
                root_writable=not locked,
                writable=writable,
                env=run_env,
                workdir=workdir,
                network=False,
                cpus=cores,
                memory_mb=cfg.environment.memory_mb,
                name=f"verify-{task.name}"[:40],
                gpus=list(gpus or []),
                max_file_mb=cfg.environment.storage_mb or DEFAULT_MAX_FILE_MB,
                ro_binds=runtime_ro_binds() + [(own_cores_lock_dir(cores, box_dir), LOCK_DIR_IN_SANDBOX)],
            )
            pristine = []  # rebased scoring: pristine runs interleaved with the agent's (verify.rebased)
            if rebased.wanted(task) and own is None:
                pristine.append(rebased.run_pristine(task, env, spec, box_dir, log_dir, 1, timeout))
            policy = resolve_network(cfg, "verifier", network)
            with Egress(policy, log_dir / "network.jsonl") as net:
                net.prepare(spec)
                if join is not None:
                    join(spec)
                sandbox = make_sandbox(spec)
                sandbox.start()
                net.start_in(sandbox)
                restored = []  # a separate verifier gets the agent's artifacts at their source paths
                if artifacts is not None and venv.mode == "separate":
                    restored = artifacts.restore_into(sandbox, root / "logs" / ".restore", "/logs/.restore")
                r = sandbox.exec(["/bin/bash", "/tests/test.sh"], timeout=timeout, cwd=workdir)
                # nothing test.sh (or the candidate it ran) left behind may touch the reward from here on
                leftovers = sandbox.kill_processes()
                net_record = net.record()
            if artifacts is not None and not (root / "logs").is_symlink():
                artifacts.from_folder(root / "logs" / "artifacts", "verifier")
            (log_dir / "test-stdout.txt").write_text(r.stdout)
            (log_dir / "test-stderr.txt").write_text(r.stderr)
            # the sandbox user could rename /logs/verifier and leave a symlink (to a host folder) in
            # its place: nothing is read through one
            if any(d.is_symlink() for d in (root / "logs", verifier_logs)) or not verifier_logs.is_dir():
                parsed = ParsedReward(
                    reason="/logs/verifier was replaced by a symlink or a file: no reward read"
                )
            else:
                parsed = parse_reward_dir(verifier_logs, task.config.looplab.primary_reward)
                for name in ("reward.json", "reward.txt"):
                    p = verifier_logs / name
                    if p.is_file() and not p.is_symlink() and p.stat().st_size <= 1 << 20:
                        shutil.copyfile(p, log_dir / name)
            result = _result_from(parsed, r.exit_code, r.timed_out, timeout)
            result.network = net_record
            _say_network_denied(result, policy)
            result.sealed = globs is not None or own is not None  # own: only the artifacts cross
            result.extra["processes_killed_after_test"] = leftovers
            result.extra["verifier_environment"] = venv.record()
            if restored:
                result.extra["artifacts_restored"] = restored
            result.carried_files = sorted(carried.files)
            result.skipped_files = carried.skipped
            if not r.timed_out:
                _apply_task_scoring(task, sandbox, parsed, result, log_dir)
            result.usage = sandbox.usage()
            if pristine:
                sandbox.stop()
                pristine.append(rebased.run_pristine(task, env, spec, box_dir, log_dir, 2, timeout))
                rebased.apply(task, parsed, pristine, result)
    except LooplabError:
        raise
    except OSError as exc:
        result = VerifierResult(reward=0.0, rewards={"reward": 0.0}, reason=f"verifier set-up failed: {exc}")
    finally:
        if sandbox is not None:
            sandbox.stop()
            if result is not None and not result.usage:
                result.usage = sandbox.usage()
        views.close()
        remove_tree(box_dir)
    assert result is not None
    result.duration_s = round(time.monotonic() - t0, 3)
    atomic_write_json(log_dir / "result.json", result.to_json())
    return result


def _verify_declared(
    task: Task,
    decl: RunDeclaration,
    env: Environment,
    root: Path,
    box_dir: Path,
    cores: list[int] | None,
    log_dir: Path,
) -> VerifierResult:
    """Verification of a task with ``tests/run.toml``: the candidate runner does all of it.

    A timed task's reward comes from the paired timing; an exact one's (``mode = "exact"``)
    from the trusted check's JSON.
    """
    from looplab.verify.measured import measure_declared, measure_exact

    runner = CandidateRunner(decl, root, box_dir / "runner", cores, dict(env.env))
    try:
        if decl.mode != "exact":
            m = measure_declared(
                task,
                runner,
                log_dir,
                pristine_workdir=env.root / env.workdir.lstrip("/"),
                workdir=env.workdir,
                env_key=env.key,
            )
            # as from a reward file: the non-numeric fields (correct, the reason) go to extra
            return _runner_result(m, {"correct": m.metrics.get("correct") == 1.0}, log_dir)
        m, parsed = measure_exact(
            task,
            runner,
            log_dir,
            pristine_workdir=env.root / env.workdir.lstrip("/"),
            workdir=env.workdir,
            env_key=env.key,
        )
    finally:
        runner.close()
    result = _runner_result(m, {**parsed.extra, "jail": "bwrap"}, log_dir)
    if "reported_reward" in m.details:
        result.rewards["reported_reward"] = m.details["reported_reward"]
    return result


def _runner_result(m: MeasuredReward, extra: dict[str, Any], log_dir: Path) -> VerifierResult:
    """The record of a verification the candidate runner scored, its reward.json written beside it.

    ``jailed``: every run of the agent's code went through the runner's jails, by construction.
    """
    result = VerifierResult(
        reward=float(m.reward),
        rewards={**m.metrics, "reward": float(m.reward)},
        reason=m.reason,
        exit_code=0,
        reward_source="runner",
        measurement=m.details,
    )
    result.extra = {**extra, "jailed": True, **({"reason": m.reason} if m.reason else {})}
    atomic_write_json(log_dir / "reward.json", {"reward": result.reward, **m.metrics, **result.extra})
    return result


def _say_network_denied(result: VerifierResult, policy: NetworkPolicy) -> None:
    """A verifier that failed while its network was denied says so: test.sh may have needed it.

    Denied: taken away by ``--network deny``, or a destination the allowlist refused."""
    if result.reward != 0 or not (result.reason or (result.exit_code or 0) != 0):
        return
    refused = [d["destination"] for d in result.network.get("destinations", []) if not d["allowed"]]
    if policy.source == "override":
        note = f"the verifier ran with {policy.describe()}"
    elif refused:
        note = f"the verifier's network refused {', '.join(refused[:5])} ({policy.describe()})"
    else:
        return
    result.reason = f"{result.reason or f'test.sh exited {result.exit_code}'} ({note})"


def _write_runner_log(result: VerifierResult, log_dir: Path) -> None:
    """Harbor's verifier log for a declared task: what the runner did (test.sh did not run)."""
    summary = {"reward": result.reward, "reason": result.reason, "rewards": result.rewards}
    summary["measurement"] = result.measurement
    (log_dir / "test-stdout.txt").write_text(
        "looplab candidate runner (tests/run.toml; test.sh not run)\n"
        + json.dumps(summary, indent=2, default=str)
        + "\n"
    )


def _result_from(parsed: ParsedReward, exit_code: int, timed_out: bool, timeout: float) -> VerifierResult:
    if timed_out:
        return VerifierResult(
            reward=0.0,
            rewards={"reward": 0.0},
            reason=f"verifier timed out after {timeout:g} s",
            exit_code=exit_code,
            timed_out=True,
            reward_source=parsed.source,
            extra=parsed.extra,
        )
    reason = parsed.reason
    if parsed.source is None and exit_code != 0:
        reason = f"test.sh exited {exit_code} without writing a reward"
    return VerifierResult(
        reward=parsed.reward,
        rewards={**parsed.rewards, "reward": parsed.reward},
        reason=reason,
        exit_code=exit_code,
        reward_source=parsed.source,
        extra=parsed.extra,
        reward_keys=sorted(parsed.rewards),
        primary=parsed.primary,
    )


def _apply_task_scoring(
    task: Task, sandbox: Sandbox, parsed: ParsedReward, result: VerifierResult, log_dir: Path
) -> None:
    """Measured rewards (paired timing, instruction counts) and reward formulas, per [looplab]."""
    lcfg = task.config.looplab
    if parsed.source is None:
        return
    if lcfg.measure != "reported":
        from looplab.verify.measured import measure_in_verifier

        m = measure_in_verifier(task, sandbox, parsed.data(), log_dir)
        result.reward = float(m.reward)
        result.rewards = {
            **result.rewards,
            "reported_reward": result.rewards.get("reward"),
            **m.metrics,
            "reward": result.reward,
        }
        result.measurement = m.details
        result.reason = m.reason
    elif lcfg.reward:
        from looplab.verify.rewards import reward_from_config

        reward, reason = reward_from_config(task.config, parsed.data())
        result.rewards["reported_reward"] = result.reward
        result.reward = float(reward)
        result.rewards["reward"] = result.reward
        result.reason = reason
