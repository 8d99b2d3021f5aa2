"""The real CLI coding agents for tests: installed once from npm and PyPI into a cache, and what their runs share.

``install(NAME)`` puts the tool into ``$LOOPLAB_CLI_CACHE`` (default
``/var/tmp/looplab-clis``): npm packages under ``npm/``, PyPI ones in their own venv
made with the system python so the sandbox user can run them. ``path_with_clis()``
is a PATH with every installed tool on it, the way a user's shell has them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CACHE = Path(os.environ.get("LOOPLAB_CLI_CACHE", "/var/tmp/looplab-clis"))
REAL = "sk-real-cli-91d0c3e4b5a6f7"
K1, K2 = REAL[:10], REAL[10:]
# no $(...): gemini-cli refuses command substitution. Prints the sandbox user, the host name and how many
# process environments in the sandbox hold the real key.
KEY_PROBE = (
    f"{{ echo RAN; id -u; hostname; echo KEYS; cat /proc/[0-9]*/environ 2>/dev/null "
    f'| tr "\\0" "\\n" | grep -c "{K1}""{K2}"; }} | tr "\\n" " "'
)
NPM = {
    "claude-code": "@anthropic-ai/claude-code@2.1.332",
    "codex": "@openai/codex@0.171.0",
    "qwen-code": "@qwen-code/qwen-code@0.24.4",
    "gemini-cli": "@google/gemini-cli@0.61.0",
}
PIP = {"aider": "aider-chat==0.86.1", "mini-swe-agent": "mini-swe-agent==2.4.6"}
BINS = {
    "claude-code": "claude",
    "codex": "codex",
    "qwen-code": "qwen",
    "aider": "aider",
    "mini-swe-agent": "mini",
    "gemini-cli": "gemini",
}
KEY_VARS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CODEX_API_KEY")


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _retry(argv: list[str], timeout: float) -> None:
    """A registry install, tried a second time when the first fails (a dropped connection)."""
    for attempt in (1, 2):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if r.returncode == 0:
            return
        if attempt == 2:
            raise RuntimeError(f"{' '.join(argv)} failed: {r.stderr[-2000:]}")


def install(name: str) -> tuple[str, str]:
    """The tool's binary and the folder to mount, installed from its registry unless cached."""
    with _locked():
        if name in NPM:
            prefix = CACHE / "npm"
            binary = prefix / "bin" / BINS[name]
            if not binary.exists():
                _retry(["npm", "install", "-g", "--prefix", str(prefix), NPM[name]], 900)
            return str(binary), str(prefix)
        venv = CACHE / name
        binary = venv / "bin" / BINS[name]
        done = venv / ".looplab-installed"  # written last: a half-done install is redone, never used
        if not done.exists():
            shutil.rmtree(venv, ignore_errors=True)
            _retry(["/usr/bin/python3", "-m", "venv", str(venv)], 300)
            _retry([str(venv / "bin" / "pip"), "install", "-q", PIP[name]], 1800)
            done.write_text(PIP[name] + "\n")
        return str(binary), str(venv)


def path_with(name: str) -> str:
    """The host's PATH with the tool's install folder first, as a user's shell has it after installing."""
    binary, _ = install(name)
    return f"{Path(binary).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"


def expected_usage(served: list[dict[str, Any]]) -> dict[str, int]:
    """The usage totals of the scripted replies a server sent."""
    u = [s["usage"] for s in served]
    return {
        "n_calls": len(u),
        "input_tokens": sum(x["input"] for x in u),
        "output_tokens": sum(x["output"] for x in u),
        "cache_read_tokens": sum(x["cache_read"] for x in u),
        "cache_write_tokens": sum(x["cache_write"] for x in u),
    }


def no_key_in(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file() and not p.is_symlink():
            assert REAL.encode() not in p.read_bytes(), p
