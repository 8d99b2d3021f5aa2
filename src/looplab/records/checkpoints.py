"""Checkpoints: snapshots of the editable files taken at each dev check, content-addressed.

``<trial>/checkpoints/objects/<sha256>`` holds each distinct file once;
``<trial>/checkpoints/index.jsonl`` has one line per checkpoint: its number, the
seconds since the agent phase began, the file map and the dev check's outcome.
Rescoring a checkpoint materializes its files into a folder and runs the sealed
verifier on it, which gives the trial's anytime curve.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from looplab.fsutil import read_regular_under
from looplab.records.layout import TrialPaths
from looplab.verify import editable as editable_mod


class CheckpointStore:
    def __init__(self, trial_dir: Path):
        paths = TrialPaths(Path(trial_dir))
        self.dir = paths.checkpoints_dir
        self.objects = paths.checkpoint_objects
        self.index = paths.checkpoint_index
        self._lock = threading.Lock()

    def record(self, work_dir: Path, globs: list[str] | None, elapsed_s: float, info: dict[str, Any]) -> int:
        """Snapshot the editable files under ``work_dir`` and append a checkpoint; return its number."""
        files = editable_mod.collect(work_dir, globs).files
        self.objects.mkdir(parents=True, exist_ok=True)
        fmap: dict[str, str] = {}
        for rel in files:
            # the agent's processes may still run: a file swapped for a symlink or a fifo
            # since it was listed is left out, never followed to a host file
            data = read_regular_under(work_dir, rel, editable_mod.MAX_FILE_BYTES)
            if data is None:
                continue
            digest = hashlib.sha256(data).hexdigest()
            obj = self.objects / digest
            if not obj.exists():
                tmp = obj.with_suffix(f".tmp{os.getpid()}")
                tmp.write_bytes(data)
                os.replace(tmp, obj)
            fmap[rel] = digest
        with self._lock:
            n = len(self.list()) + 1
            entry = {"n": n, "elapsed_s": round(elapsed_s, 3), "files": fmap, **info}
            with open(self.index, "a") as fh:
                fh.write(json.dumps(entry) + "\n")
                fh.flush()
        return n

    def list(self) -> list[dict[str, Any]]:
        if not self.index.exists():
            return []
        out = []
        for line in self.index.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def materialize(self, entry: dict[str, Any], dest: Path) -> Path:
        """Write checkpoint ``entry``'s files into ``dest`` (a stand-in for the agent's /app)."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        for rel, digest in entry["files"].items():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.objects / digest, target)
        return dest
