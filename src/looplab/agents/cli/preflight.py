"""Checks before any trial of a CLI agent: the tool visible to the sandbox user, the key, a price.

``preflight_problems(agent, budget)`` returns one line per problem (an empty list:
ready): the program (and the interpreter its ``#!`` line names) must be reachable
inside the sandbox, where the host's /usr, /bin, /lib... and the agent's ``mounts``
are bound read-only, and be readable and executable by the unprivileged sandbox
user along its whole path; the provider's key variable must be set on the host
(the gateway adds it to each call); ``--max-cost`` needs a price for the model.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
from pathlib import Path
from typing import Any, Protocol

from looplab.agents.cli.tools import KEY_ENV
from looplab.sandbox.bwrap import DEFAULT_PATH, HOST_SYSTEM_ENTRIES


class CliAgent(Protocol):
    """What the preflight reads of a CLI agent (``agents.cli.agent.CliAgent``)."""

    bin: str | None
    model: str | None
    mounts: list[str]
    prices: Any
    providers: Any
    tool: Any
    tool_name: str

    def upstreams(self) -> list[Any]: ...


def _host_path(agent: CliAgent, sandbox_path: str) -> Path | None:
    """Where a sandbox path lives on the host (a mount or a bound system folder), or None."""
    for m in agent.mounts:
        host, _, dest = m.partition(":")
        dest = dest or host
        if sandbox_path == dest or sandbox_path.startswith(dest.rstrip("/") + "/"):
            return Path(host + sandbox_path[len(dest.rstrip("/")) :])
    top = sandbox_path.lstrip("/").split("/", 1)[0]
    return Path(sandbox_path) if top in HOST_SYSTEM_ENTRIES else None


def _visible(path: Path) -> str | None:
    """None when ``path`` is a file others may read and run, through folders others may enter; else why
    not."""
    try:
        real = path.resolve(strict=True)
    except OSError:
        return f"{path} does not exist"
    st = real.stat()
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & stat.S_IXOTH or not st.st_mode & stat.S_IROTH:
        return f"{real} is not readable and executable by other users (mode {stat.filemode(st.st_mode)})"
    for d in real.parents:
        if not d.stat().st_mode & stat.S_IXOTH:
            return f"{d} cannot be entered by other users"
    return None


def _in_sandbox(agent: CliAgent, sandbox_path: str, hops: int = 0) -> tuple[Path | None, str]:
    """The host file behind a sandbox path, following links the way the sandbox would (a link to a
    place the sandbox does not see, e.g. a venv's python under /root, is not usable)."""
    host = _host_path(agent, sandbox_path)
    if host is None:
        return None, f"{sandbox_path} is outside what the sandbox sees (/usr, /bin, /lib... and --ak mounts)"
    if host.is_symlink() and hops < 16:
        target = os.readlink(host)
        return _in_sandbox(
            agent, os.path.normpath(os.path.join(os.path.dirname(sandbox_path), target)), hops + 1
        )
    why = _visible(host)
    return (host, "") if why is None else (None, why)


def _find(agent: CliAgent, program: str) -> tuple[Path | None, str]:
    """The host file the sandbox runs for ``program`` and why it is not usable ("" when it is)."""
    if "/" in program:
        return _in_sandbox(agent, program)
    for d in DEFAULT_PATH.split(":"):
        host, _ = _in_sandbox(agent, f"{d}/{program}")
        if host is not None:
            return host, ""
    return None, f"{program} is not on the sandbox's PATH ({DEFAULT_PATH})"


def _interpreter(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            head = fh.readline(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].decode("utf-8", "replace").split()
    if not words:
        return None
    if words[0].endswith("/env") and len(words) > 1:
        return next((w for w in words[1:] if not w.startswith("-")), None)
    return words[0]


def _too_broad(root: Path) -> bool:
    """A folder never bound into a sandbox for a tool: /, a home folder or above one, ~/.local."""
    home = Path(os.environ.get("HOME") or "/root").resolve()
    broad = {Path("/"), home, home / ".local", Path("/home"), Path("/root")}
    return root in broad or root in home.parents or len(root.parts) < 3


def host_install(program: str) -> tuple[str, str] | None:
    """Where ``program``, found on the host's PATH, is installed: its path and the folder to bind read-only
    into the sandbox (the one above its ``bin`` folder: an npm prefix, a venv, /opt/TOOL), or None.

    A link is followed when the folder above it is too broad to bind (``~/.local/bin/aider`` of pipx →
    the venv it points into)."""
    found = shutil.which(program)
    if found is None or "/" in program:
        return None
    for path in (Path(os.path.abspath(found)), Path(found).resolve()):
        if path.parent.name == "bin" and not _too_broad(root := path.parent.parent):
            return str(path), str(root)
    return None


def found_on_host_path(agent: CliAgent) -> tuple[str, str] | None:
    """The tool's own program, when the sandbox does not see it but the host's PATH has it: its path
    and its install folder (``host_install``), which the agent then binds read-only."""
    program = shlex.split(agent.bin)[0] if agent.bin else None
    if program is None or _find(agent, program)[0] is not None:
        return None
    return host_install(program)


def install_hint(agent: CliAgent) -> str:
    """How to make the tool visible to the sandbox user."""
    how = agent.tool.install or "install it"
    return (
        f"{how} on the host where the sandbox sees it (/usr, read-only) or on the host's PATH under an npm "
        "prefix or a venv (that folder is bound read-only), or mount its folder with --ak mounts=DIR and set "
        "--ak bin=PATH"
    )


def preflight_problems(agent: CliAgent, budget: dict[str, Any]) -> list[str]:
    name = agent.tool_name
    problems = []
    program = shlex.split(agent.bin)[0] if agent.bin else None
    if program:
        host, why = _find(agent, program)
        if host is None:
            problems.append(f"{name}: {why}; {install_hint(agent)}")
        elif (interp := _interpreter(host)) is not None and _find(agent, interp)[0] is None:
            problems.append(
                f"{name}: {program} runs {interp}, which the sandbox user cannot run: "
                f"{_find(agent, interp)[1]}"
            )
    needs_key = agent.tool_name != "template" or agent.model
    for up in agent.upstreams()[:1] if needs_key else []:
        if not up.key:
            problems.append(
                f"{name}: set {KEY_ENV[up.provider]} on the host (the gateway adds it to each model call; "
                "any value for a server that needs none)"
            )
    if budget.get("max_cost_usd") is not None:
        if not agent.model:
            problems.append(
                f"{name}: --max-cost needs -m PROVIDER/MODEL so that each model call can be priced"
            )
        else:
            provider = agent.providers[0] if agent.providers else ""
            bare = agent.model.split("/", 1)[1] if "/" in agent.model else agent.model
            if agent.prices.lookup(f"{provider}/{bare}") is None:
                problems.append(
                    f"{name}: no price for {agent.model} (needed by --max-cost): add it to a price "
                    "file, --ak prices=FILE or $LOOPLAB_PRICES"
                )
    return problems
