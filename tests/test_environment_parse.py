"""Dockerfile parsing, variable substitution and package-line rewriting (no sandbox needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from looplab.environment.dockerfile import parse_dockerfile, parse_env_args, substitute
from looplab.environment.packages import PackageCheck, check_host, classify, rewrite_run, split_shell
from looplab.errors import LooplabError


def test_parse_continuations_comments_and_flags(tmp_path: Path) -> None:
    df = tmp_path / "Dockerfile"
    df.write_text(
        "# syntax=docker/dockerfile:1\nFROM debian:bookworm AS base\n"
        "RUN apt-get update && \\\n    # a comment inside\n    apt-get install -y gcc\n"
        'COPY --chown=1000:1000 a.c b.c /app/\nCMD ["bash"]\n'
    )
    ins = parse_dockerfile(df)
    assert [i.op for i in ins] == ["FROM", "RUN", "COPY", "CMD"]
    assert ins[1].line == 3 and "apt-get install -y gcc" in ins[1].args and "comment" not in ins[1].args
    assert ins[2].flags == {"chown": "1000:1000"} and ins[2].args == "a.c b.c /app/"
    assert ins[3].json_args() == ["bash"]


def test_bad_instruction_names_file_and_line(tmp_path: Path) -> None:
    df = tmp_path / "Dockerfile"
    df.write_text("FROM x\n123 nonsense\n")
    with pytest.raises(LooplabError, match=r"Dockerfile:2"):
        parse_dockerfile(df)


def test_substitution_forms() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert substitute("$A-${A}-${B:-dflt}-${EMPTY:-e}-${A:+alt}-${B:+alt}", env) == "1-1-dflt-e-alt-"
    assert parse_env_args('X=1 Y="two words"') == [("X", "1"), ("Y", "two words")]
    assert parse_env_args("LEGACY some value") == [("LEGACY", "some value")]


def test_split_shell_respects_quotes() -> None:
    parts = split_shell("echo 'a && b' && apt-get install -y gcc; pip install numpy | tee x")
    assert parts[0] == "echo 'a && b' " and parts[1] == "&&"
    assert len(parts) == 7


@pytest.mark.parametrize(
    ("seg", "kind", "pkgs"),
    [
        ("apt-get install -y --no-install-recommends gcc make=4.3", "apt", ["gcc", "make"]),
        ("DEBIAN_FRONTEND=noninteractive apt-get -qq install -y valgrind", "apt", ["valgrind"]),
        ("apt-get update", "apt", []),
        ("pip install --no-cache-dir numpy==1.26 'torch>=2' -r req.txt", "pip", ["numpy", "torch"]),
        ("python3 -m pip install -U pydantic", "pip", ["pydantic"]),
        ("uv pip install --system rich", "pip", ["rich"]),
        ("make -C /app", None, None),
    ],
)
def test_classify_package_commands(seg: str, kind: str | None, pkgs: list[str] | None) -> None:
    got = classify(seg)
    if kind is None:
        assert got is None
    else:
        assert got == (kind, pkgs)


def test_rewrite_run_drops_installs_and_checks_host() -> None:
    check = PackageCheck()
    out = rewrite_run("apt-get update && apt-get install -y gcc looplab-no-such-pkg && make", check)
    assert "apt-get" not in out and out.strip().endswith("make")
    check_host(check)
    assert "gcc" not in check.missing_apt and "looplab-no-such-pkg" in check.missing_apt
    assert any("apt-get install -y looplab-no-such-pkg" in w for w in check.warnings())
