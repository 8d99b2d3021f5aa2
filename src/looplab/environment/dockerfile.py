"""Parse a Dockerfile into instructions and substitute ``$VAR``/``${VAR:-default}`` references.

Only the parsing lives here; ``build.py`` decides what each instruction does.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from looplab.errors import LooplabError


@dataclass
class Instruction:
    line: int  # 1-based line where the instruction starts
    op: str  # upper-case keyword: FROM, RUN, COPY...
    args: str  # the raw text after the keyword, continuations joined
    flags: dict[str, str]  # --chown=..., --from=... (COPY/ADD/RUN)

    def json_args(self) -> list[str] | None:
        """The exec-form (JSON array) arguments, or None for shell form."""
        text = self.args.strip()
        if text.startswith("["):
            try:
                val = json.loads(text)
            except ValueError:
                return None
            if isinstance(val, list) and all(isinstance(x, str) for x in val):
                return val
        return None


# instructions that describe the image (how it is run, labels) and change no file: both builders skip them
METADATA_OPS = frozenset(
    {"LABEL", "EXPOSE", "CMD", "ENTRYPOINT", "HEALTHCHECK", "VOLUME", "STOPSIGNAL", "ONBUILD", "MAINTAINER"}
)
_FLAG = re.compile(r"^--([a-zA-Z-]+)(?:=(\S*))?\s*")


def parse_dockerfile(path: Path) -> list[Instruction]:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise LooplabError(f"{path}: not UTF-8 text") from None
    out: list[Instruction] = []
    buf: list[str] = []
    start = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # comment lines inside a continuation are dropped, as Docker does
        if not buf:
            start = lineno
        if raw.rstrip().endswith("\\"):
            buf.append(raw.rstrip()[:-1])
            continue
        buf.append(raw)
        out.append(_instruction(path, start, " ".join(s.strip() for s in buf if s.strip())))
        buf = []
    if buf:
        out.append(_instruction(path, start, " ".join(s.strip() for s in buf if s.strip())))
    return out


def _instruction(path: Path, line: int, text: str) -> Instruction:
    parts = text.split(None, 1)
    op = parts[0].upper()
    if not re.fullmatch(r"[A-Z]+", op):
        raise LooplabError(f"{path}:{line}: not a Dockerfile instruction: {parts[0]!r}")
    args = parts[1] if len(parts) > 1 else ""
    flags: dict[str, str] = {}
    if op in ("COPY", "ADD", "RUN"):
        while True:
            m = _FLAG.match(args)
            if not m:
                break
            flags[m.group(1)] = m.group(2) or ""
            args = args[m.end() :]
    return Instruction(line=line, op=op, args=args, flags=flags)


_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def substitute(text: str, env: dict[str, str]) -> str:
    """Docker's variable substitution: $VAR, ${VAR}, ${VAR:-default}, ${VAR:+alt}."""

    def rep(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(4)
        val = env.get(name)
        if m.group(2) == "-":
            return val if val else m.group(3)
        if m.group(2) == "+":
            return m.group(3) if val else ""
        return val or ""

    return _VAR.sub(rep, text)


def split_words(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def parse_env_args(args: str) -> list[tuple[str, str]]:
    """``ENV A=1 B="two words"`` or the legacy ``ENV A some value``."""
    words = split_words(args)
    if words and "=" not in words[0]:
        return [(words[0], args.split(None, 1)[1].strip() if len(words) > 1 else "")]
    pairs = []
    for w in words:
        if "=" in w:
            k, v = w.split("=", 1)
            pairs.append((k, v))
    return pairs
