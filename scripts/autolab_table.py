"""Write docs/autolab.md from an AutoLab job folder: oracle and nop rewards, published and rebased, per task.

Used by scripts/autolab.sh; it reads only the job's records (result.json of each trial and of its
verifier), so it can be re-run on a job that is still going or that stopped part-way. A task with no
trials in the jobs folder keeps its row from the existing table (a re-run of some tasks updates only
theirs), and the section from ``FINDINGS`` on (hand-written) is kept as it is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from looplab.fsutil import atomic_write_text

FINDINGS = "## Findings"


def _read(p: Path) -> dict[str, Any]:
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return {}


def _num(v: Any) -> str:
    return "–" if v is None else f"{float(v):.4f}".rstrip("0").rstrip(".") if float(v) else "0"


def trials(jobs: Path, job: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every trial of the jobs ``<job>-<task>`` under ``jobs``, by (task, agent)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for f in sorted(jobs.glob(f"{job}-*/*/result.json")):
        t = _read(f)
        if "task_name" in t:
            t["_verifier"] = _read(f.parent / "verifier" / "result.json")
            t["_maps"] = _job_maps(f.parent.parent)
            out[(t["task_name"], t.get("agent", "?"))] = t
    return out


def _job_maps(job_dir: Path) -> list[str]:
    """The --image-map entries the job ran with (from its recorded identity)."""
    for name in ("config.json", "job.json"):
        ident = _read(job_dir / name).get("identity", {})
        if ident:
            text = ident.get("build", {}).get("LOOPLAB_IMAGE_MAP", "")
            return [m for m in text.split("\n") if m.strip()]
    return []


def stand_in(checkout: str, task: str, t: dict[str, Any] | None) -> str:
    """The task's FROM and the stand-in it was mapped onto in that run."""
    from looplab.environment.dockerfile import parse_dockerfile
    from looplab.environment.registry import RegistryOptions

    try:
        froms = [
            i.args.split()[0]
            for i in parse_dockerfile(Path(checkout) / "tasks" / task / "environment" / "Dockerfile")
            if i.op == "FROM"
        ]
    except Exception:  # noqa: BLE001 - a table cell, never a failure
        return ""
    if not froms:
        return ""
    if t is None:
        return f"`{froms[0]}`"
    target = str(RegistryOptions.parse(t.get("_maps", [])).resolve(froms[0]))
    return f"`{froms[0]}` → `{target.split('/', 1)[-1]}`"


def cell(t: dict[str, Any] | None) -> tuple[str, str, str]:
    """(published, rebased, note) for one trial."""
    if t is None:
        return "", "", "not run"
    v = t.get("_verifier", {})
    rewards = v.get("rewards", {})
    if t.get("status") != "completed":
        return "–", "–", f"{t.get('status')}: {t.get('cause') or ''}".strip(": ")
    published = rewards.get("published_reward", t.get("reward"))
    rebased = rewards.get("rebased_reward")
    note = v.get("reason") or ""
    why = ((v.get("measurement") or {}).get("rebased") or {}).get("reason")
    if "published_reward" in rewards and rebased is None and why:
        note = (note + "; " if note else "") + f"not rebased: {why}"
    return _num(published), _num(rebased) if "published_reward" in rewards else "(count)", note[:120]


def old_rows(out: Path) -> tuple[dict[str, str], str]:
    """The existing table's rows by task, and its hand-written findings section ("" if none)."""
    try:
        text = out.read_text()
    except OSError:
        return {}, ""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 8 and cells[0] not in ("task", "---"):
            rows[cells[0]] = line
    i = text.find(FINDINGS)
    return rows, text[i:] if i >= 0 else ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("jobs", type=Path, help="the jobs folder")
    ap.add_argument("out", type=Path)
    ap.add_argument("--job", default="autolab", help="job name prefix: one job <prefix>-<task> per task")
    ap.add_argument("--order", default="", help="task names in run order (space-separated)")
    ap.add_argument("--maps", default="")
    ap.add_argument("--checkout", default="")
    a = ap.parse_args()
    found = trials(a.jobs, a.job)
    order = a.order.split() or sorted({k[0] for k in found})
    kept, findings = old_rows(a.out)
    rows, better, ran = [], 0, 0
    for task in order:
        o, n = found.get((task, "oracle")), found.get((task, "nop"))
        if o is None and n is None and task in kept:  # not re-run here: the row of the run before
            mark = kept[task].strip().strip("|").split("|")[6].strip()
            ran += mark in ("yes", "**no**")
            better += mark == "yes"
            rows.append(kept[task])
            continue
        op, orb, onote = cell(o)
        np_, nrb, nnote = cell(n)
        shown = None
        if o and n and o.get("status") == n.get("status") == "completed":
            ran += 1
            shown = (o.get("reward") or 0) > (n.get("reward") or 0)
            better += bool(shown)
        mark = "" if shown is None else ("yes" if shown else "**no**")
        parts = (
            ("not run",)
            if o is None and n is None
            else (f"oracle {onote}" if onote else "", f"nop {nnote}" if nnote else "")
        )
        notes = "; ".join(x for x in parts if x)
        base = stand_in(a.checkout, task, o or n)
        rows.append(f"| {task} | {base} | {op} | {orb} | {np_} | {nrb} | {mark} | {notes} |")
    commit = ""
    if a.checkout:
        r = subprocess.run(
            ["git", "-C", a.checkout, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
        commit = r.stdout.strip()
    not_run = [t for t in order if (t, "oracle") not in found and (t, "nop") not in found and t not in kept]
    text = f"""# AutoLab v1.1 CPU tasks under looplab

Written by `scripts/autolab.sh` (run it as `bash scripts/autolab.sh PATH` on a checkout of
github.com/autolabhq/autolab; nothing of AutoLab is vendored here) on {dt.date.today().isoformat()},
{platform.machine()} with {os.cpu_count()} cores{f", AutoLab checkout {commit}" if commit else ""}.

Each task ran unmodified from its folder, sealed through the shipped overlay
(`src/looplab/overlays/autolab/<task>.toml`: the editable files its instruction.md names), in image
mode with its FROM mapped onto stand-in images built with mmdebstrap from Debian/Ubuntu packages
(`tests/image_helpers.py`) in a local registry; each row names the stand-in it ran on
(the last run's maps: `{a.maps}`).

- **published**: the reward AutoLab's test.sh computes against its fixed baseline/reference constants.
- **rebased**: the same formula with the baseline measured here (the pristine editable files through
  the same test.sh, before and after the agent's run) and the reference scaled by measured ÷ nominal
  baseline (`looplab.verify.rebased`). Only the `runtime_seconds` tasks are rebased; "(count)"
  marks a machine-independent metric (a count or a size), where the published reward is the score.
- **oracle > nop**: the trial's reward, which is the rebased one where there is one, else the published.

{better} of {ran} tasks with both trials completed have oracle above nop.
{("Not run (yet): " + ", ".join(not_run) + ".") if not_run else "Every task ran."}

"""
    text += "| task | FROM → stand-in | oracle published | oracle rebased | nop published | nop rebased "
    text += "| oracle > nop | notes |\n|---|---|---|---|---|---|---|---|\n"
    text += "\n".join(rows) + "\n"
    if findings:
        text += "\n" + findings.rstrip() + "\n"
    atomic_write_text(a.out, text)
    print(f"wrote {a.out}: {ran} tasks with both trials, {better} oracle > nop, {len(not_run)} not run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
