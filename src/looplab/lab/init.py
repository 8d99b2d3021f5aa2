"""``lab init``: create a lab in a folder of a git repository, and labs made from catalog tasks.

``init_lab`` writes ``lab.toml``, a backend template, ``AGENT.md`` and a
``.gitignore`` entry for the state folder, all inside the lab folder (a folder
outside any repository becomes a new repository). When the folder has no
``pipeline/`` yet, a small runnable example comes with it: a linear model to fit,
sample data and a ``propose.py`` search script for the ``command`` agent, so
``lab run`` works at once without an API key; without it (``--no-example``) nothing
refers to the example and the agent is the ``llm`` agent. ``init_task_lab`` turns a catalog
task into a lab: a new repository holding the task's pristine editable files as
the pipeline, with the task's sealed verifier as the backend.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from looplab.errors import LooplabError
from looplab.lab import gitops
from looplab.lab.config import LAB_FILE

STATE_DIR = ".looplab"

LAB_TOML = """\
# looplab lab: see docs/lab.md for every key.
[lab]
name = "{name}"
pipeline = ["pipeline"]        # paths (relative to this folder) the agent may change: folders, files or globs
instructions = "AGENT.md"      # what the agent is told
# branch = "lab/{name}"        # the git branch the lab commits keeps to

[backend]
entry = "backend.py:Backend"   # or: command = "python3 eval.py"  (prints the result JSON)
direction = "lower"            # "lower" or "higher" is better
timeout_sec = 600
# files = ["helpers/"]         # more files the backend needs (copied read-only into its sandbox)

# [backend.host_service]       # a host command whose port is forwarded into the sandboxes
# command = "python3 daemon.py --port 9100"
# port = 9100

[agent]
{agent}timeout_sec = 600              # per iteration

[stop]
max_iterations = 50
max_hours = 8
# max_cost = 10.0
# target_score = 0.01
plateau = 10
max_restarts = 3

[noise]
repeats = 10                   # at most this many paired evaluations per decision (1: deterministic backend)
confidence = 0.95
min_effect = 0.0               # fraction of the best score an improvement must exceed
"""

EXAMPLE_AGENT = """\
name = "command"               # any registered agent: command, llm, replay, ...
kwargs = { script = "propose.py" }
"""
OWN_AGENT = """\
name = "llm"                   # or claude-code, codex, command (with kwargs = { script = "FILE" }), ...
model = "anthropic/claude-sonnet-4-5"
"""

BACKEND_PY = '''\
"""The lab's evaluation backend: score the pipeline on the data.

It runs in a sandbox of its own: `pipeline_dir` is a read-only copy of the lab
folder (with the pipeline in it), `data_dir` the --data folder (read-only).
Return one score (the lab keeps changes that improve it), any metrics, and
per-sample results (`looplab lab diagnose` shows the worst first).
"""

import importlib.util
import json
from pathlib import Path

from looplab.lab.backend import EvalBackend, EvalResult, SampleResult


class Backend(EvalBackend):
    def evaluate(self, pipeline_dir: Path, data_dir: Path, sample_ids=None) -> EvalResult:
        spec = importlib.util.spec_from_file_location("model", Path(pipeline_dir) / "pipeline" / "model.py")
        model = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(model)
        files = sorted(Path(data_dir).glob("*.json"))
        if sample_ids:
            files = [f for f in files if f.stem in set(sample_ids)]
        samples = []
        for f in files:
            case = json.loads(f.read_text())
            error = abs(float(model.predict(case["x"])) - case["y"])
            samples.append(SampleResult(sample_id=f.stem, score=error))
        if not samples:
            raise ValueError(f"no samples (*.json) in {data_dir}")
        mae = sum(s.score for s in samples) / len(samples)
        return EvalResult(score=mae, metrics={"mae": mae, "n": len(samples)}, samples=samples)
'''

AGENT_MD = """\
# Instructions for the agent

You are improving a pipeline inside a research loop. Each iteration you make one
focused change, then stop; the lab evaluates your change in a separate sandbox and
keeps it only if it is better than the best so far with statistical confidence.

- The pipeline is under `/app` (the lab folder's copy); only the pipeline paths
  listed in `lab.toml` count: {pipeline}. Everything else you write is thrown away.
- The data is read-only at `/data` (when the lab shows it to you).
- The history of earlier experiments (score, kept, notes) is in `/lab/history.jsonl`.
- `looplab lab dev-eval` (or your harness's dev-check tool) scores your current
  files the same way the lab will: one evaluation, the score and the worst samples.
- Write one line describing your change to `$LOOPLAB_NOTES` (`/logs/agent/notes.md`).
- Do not try to change the evaluation: it is not reachable from your sandbox.

Describe here what the pipeline does, what the score means and ideas worth trying.
"""

EXAMPLE_MODEL = '''\
"""A linear model: predict(x) = a*x + b, with a and b in params.json."""

import json
from pathlib import Path

params = json.loads((Path(__file__).parent / "params.json").read_text())


def predict(x: float) -> float:
    return params["a"] * x + params["b"]
'''

EXAMPLE_PROPOSE = '''\
#!/usr/bin/env python3
"""A search script for the `command` agent: a tiny hill climber over the parameters.

It reads the lab's history: when the last nudge was discarded it tries the opposite
direction, otherwise a random parameter and step. The lab decides what is kept.
"""

import json
import os
import random
import re
from pathlib import Path

exp = int(os.environ.get("LOOPLAB_EXPERIMENT", "0"))
rng = random.Random(exp)
params_file = Path(os.environ.get("LOOPLAB_PIPELINE_DIR", ".")) / "pipeline" / "params.json"
params = json.loads(params_file.read_text())
history = [json.loads(line) for line in Path(os.environ["LOOPLAB_HISTORY"]).read_text().splitlines() if line]
last = history[-1] if history else {}
m = re.fullmatch(r"(\\w+) \\+= (-?[0-9.]+)", (last.get("notes") or "").strip())
if m and not last.get("kept") and m.group(1) in params:
    key, step = m.group(1), -float(m.group(2))
else:
    key = rng.choice(sorted(params))
    step = rng.choice([-1, 1]) * rng.choice([0.05, 0.2, 0.5, 1.0])
params[key] = round(params[key] + step, 4)
params_file.write_text(json.dumps(params, indent=1) + "\\n")
Path(os.environ.get("LOOPLAB_NOTES", "/dev/null")).write_text(f"{key} += {step}\\n")
print(f"{key} += {step}")
'''


def _sanitize(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "lab"
    return s[:64]


def _ignore_state(lab_dir: Path) -> None:
    gi = lab_dir / ".gitignore"
    lines = gi.read_text().splitlines() if gi.exists() else []
    if f"/{STATE_DIR}/" not in lines:
        lines.append(f"/{STATE_DIR}/")
        gi.write_text("\n".join(lines) + "\n")


def init_lab(lab_dir: Path, name: str | None = None, example: bool = True, force: bool = False) -> list[Path]:
    """Create a lab in ``lab_dir``; return the files written."""
    lab_dir = Path(lab_dir).resolve()
    lab_dir.mkdir(parents=True, exist_ok=True)
    toml = lab_dir / LAB_FILE
    if toml.exists() and not force:
        raise LooplabError(f"{toml} already exists (use --force to overwrite the lab's files)")
    if gitops.repo_root(lab_dir) is None:
        gitops.init_repo(lab_dir)
    name = _sanitize(name or lab_dir.name)
    written: list[Path] = []

    def write(rel: str, text: str, mode: int | None = None) -> None:
        p = lab_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        if mode is not None:
            os.chmod(p, mode)
        written.append(p)

    with_example = example and not (lab_dir / "pipeline").exists()
    write(LAB_FILE, LAB_TOML.format(name=name, agent=EXAMPLE_AGENT if with_example else OWN_AGENT))
    if force or not (lab_dir / "backend.py").exists():
        write("backend.py", BACKEND_PY)
    if force or not (lab_dir / "AGENT.md").exists():
        write("AGENT.md", AGENT_MD.format(pipeline="`pipeline/`"))
    _ignore_state(lab_dir)
    written.append(lab_dir / ".gitignore")
    if with_example:
        write("pipeline/model.py", EXAMPLE_MODEL)
        write("pipeline/params.json", json.dumps({"a": 0.0, "b": 0.0}, indent=1) + "\n")
        write("propose.py", EXAMPLE_PROPOSE, 0o755)
        for i in range(12):
            x = i - 4
            write(f"example-data/s{i:02d}.json", json.dumps({"x": x, "y": round(2.5 * x - 1.0, 4)}) + "\n")
    return written


TASK_LAB_TOML = """\
# A lab made from the catalog task {task_name}: the task's editable files are the
# pipeline and its sealed verifier is the backend (the reward: higher is better).
[lab]
name = "{name}"
pipeline = {pipeline}
instructions = "AGENT.md"

[backend]
task = "{task_path}"
metric = "reward"              # or another number of the verifier's result (e.g. "speedup")
direction = "higher"
timeout_sec = {timeout}

[agent]
name = "llm"
timeout_sec = {agent_timeout}

[stop]
max_iterations = 20
plateau = 8

[noise]
# The verifier already measures timing against the pristine program in pairs;
# raise repeats (>= 5) to also re-evaluate each decision against the best.
repeats = 1
"""


def init_task_lab(task_ref: str, lab_dir: Path, name: str | None = None) -> Path:
    """Make ``lab_dir`` a new repository holding the task's pristine editable files as a lab."""
    from looplab.environment.build import build_environment
    from looplab.tasks.catalog import resolve_task_path
    from looplab.tasks.loader import load_task
    from looplab.verify import editable as editable_mod

    task = load_task(resolve_task_path(task_ref))
    globs = list(task.config.looplab.editable)
    if not globs:
        raise LooplabError(
            f"{task.path}: the task declares no [looplab] editable files, so it has no pipeline"
        )
    lab_dir = Path(lab_dir).resolve()
    if lab_dir.exists() and any(lab_dir.iterdir()):
        raise LooplabError(f"{lab_dir}: exists and is not empty; pick another --lab folder for the task lab")
    env = build_environment(task)
    wd = env.root / env.workdir.lstrip("/")
    norm = editable_mod.normalize_globs(globs, env.workdir)
    files = editable_mod.collect(wd, norm).files if wd.is_dir() else {}
    lab_dir.mkdir(parents=True, exist_ok=True)
    gitops.init_repo(lab_dir)
    for rel, src in files.items():
        out = lab_dir / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out)
        os.chmod(out, 0o755 if src.stat().st_mode & 0o111 else 0o644)
    name = _sanitize(name or f"{task.name}-lab")
    (lab_dir / LAB_FILE).write_text(
        TASK_LAB_TOML.format(
            task_name=task.name,
            name=name,
            pipeline=json.dumps(norm),
            task_path=str(task.path),
            timeout=int(task.config.verifier.timeout_sec) + 60,
            agent_timeout=int(task.config.agent.timeout_sec),
        )
    )
    (lab_dir / "AGENT.md").write_text(
        AGENT_MD.format(pipeline=", ".join(f"`{g}`" for g in norm)).replace(
            "Describe here what the pipeline does, what the score means and ideas worth trying.\n", ""
        )
        + "\nThe task's own instructions come first, above; the score is the task's reward.\n"
    )
    _ignore_state(lab_dir)
    gitops.git(lab_dir, "add", "-A")
    gitops.git(lab_dir, "commit", "-q", "-m", f"lab: pristine {task.name}", env=gitops.identity_env(lab_dir))
    return lab_dir
