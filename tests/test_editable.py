"""Editable globs: what travels from the agent's /app to the verifier, and what never does."""

from __future__ import annotations

import os
from pathlib import Path

from looplab.verify.editable import collect, matches, normalize_globs, overlay


def test_glob_semantics() -> None:
    assert matches("solve.c", ["solve.c"]) and not matches("x/solve.c", ["solve.c"])
    assert matches("src/a/b.c", ["src/**/*.c"]) and matches("src/b.c", ["src/**/*.c"])
    assert not matches("src/b.h", ["src/**/*.c"]) and matches("deep/x", ["**"])
    assert normalize_globs(["/app/solve.c", "./x.py", "y/*"], "/app") == ["solve.c", "x.py", "y/*"]


def test_collect_skips_symlinks_and_overlay_mirrors_deletions(tmp_path: Path) -> None:
    agent, pristine = tmp_path / "agent", tmp_path / "pristine"
    (agent / "src").mkdir(parents=True)
    (pristine / "src").mkdir(parents=True)
    (agent / "src" / "a.c").write_text("new a")
    (agent / "Makefile").write_text("evil")
    os.symlink("/etc/shadow", agent / "src" / "leak.c")
    (pristine / "src" / "a.c").write_text("old a")
    (pristine / "src" / "gone.c").write_text("deleted by agent")
    (pristine / "Makefile").write_text("good")
    globs = ["src/*.c"]
    carried = collect(agent, globs)
    assert set(carried.files) == {"src/a.c"} and any("leak.c" in s for s in carried.skipped)
    overlay(pristine, carried, globs)
    assert (pristine / "src" / "a.c").read_text() == "new a"
    assert not (pristine / "src" / "gone.c").exists()
    assert (pristine / "Makefile").read_text() == "good"
    assert not (pristine / "src" / "leak.c").exists()
