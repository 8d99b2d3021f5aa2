"""``cli`` agents: Claude Code, Codex CLI, aider or any command template, run inside the sandbox.

The instruction (with the working folder, the editable files, the dev check and the
deadline in wall-clock time appended) is written to ``/logs/agent/instruction.md``
and the tool is started in /app with ``timeout`` = the time left. Its model traffic
goes through the host-side egress proxy (``agents.proxy``): only the tool's API
host (or the host of ``base_url``, plus any ``allow`` entries) can be reached;
``HTTPS_PROXY``/``HTTP_PROXY`` point at an in-sandbox forwarder on 127.0.0.1. The
tool's native log is written under /logs/agent (the trial copies it to
``agent/sandbox-logs``), read from the host while the tool runs and converted into
trajectory events as they appear (Claude Code stream-json, Codex JSONL), so a
killed trial keeps what the tool did. Tokens and dollars come from the log (Claude
Code reports its own total cost; Codex's tokens are priced with the price table).

Agent arguments (``--ak KEY=VALUE``): ``tool`` (claude-code, codex, aider) or
``template`` (a shell command with ``{instruction_file}``, ``{model}``,
``{log_dir}``, ``{workdir}``, ``{files}``, ``{bin}``), ``bin`` (the program to
run instead of the tool's own, e.g. a wrapper), ``allow`` (extra hosts,
comma-separated), ``base_url`` (the API endpoint, passed to the tool and allowed),
``mounts`` (``HOST[:SANDBOX],...`` read-only, e.g. where the tool is installed),
``env`` (``K=V,...``), ``pass_env`` (host variables to pass), ``log_file`` and
``log_format`` (for templates: a file under /logs/agent in ``claude-stream-json``
or ``codex-jsonl``), ``prices`` (a price file), ``port`` (forwarder port).
API keys (``ANTHROPIC_API_KEY``, ``OPENAI_API_KEY``) are passed to the tool when set
on the host: a CLI agent holds its own key, unlike the ``llm`` agent.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import stat
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from looplab.agents.base import Agent, AgentContext, AgentOutcome, Budget, Usage
from looplab.agents.cli_logs import FORMATS, Converter, make_converter
from looplab.agents.llm.pricing import PriceTable
from looplab.agents.proxy import (
    DEFAULT_PORT,
    SANDBOX_PROXY_DIR,
    EgressProxy,
    forwarder_command,
    proxy_env,
)
from looplab.environment.build import runtime_dir
from looplab.errors import LooplabError
from looplab.fsutil import remove_tree
from looplab.sandbox.base import Sandbox, SandboxSpec
from looplab.sandbox.relay import FORWARDER_SOURCE

LOG_DIR = "/logs/agent"
INSTRUCTION_FILE = f"{LOG_DIR}/instruction.md"
PID_FILE = "/tmp/looplab-cli.pid"  # the tool's process group (each sandbox command runs in its own session)
KILL_TOOL = (
    f'p=$(cat {PID_FILE} 2>/dev/null) || exit 0; kill -TERM -- -"$p" 2>/dev/null; '
    f'for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- -"$p" 2>/dev/null || exit 0; sleep 0.2; done; kill -KILL -- -"$p" 2>/dev/null; true'
)


@dataclass(frozen=True)
class CliTool:
    bin: str
    template: str
    model_flag: str = ""  # appended as {model_flag} when a model is given
    model_full: bool = False  # pass provider/name (aider/litellm) rather than the bare name
    key_env: tuple[str, ...] = ()
    base_url_env: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    log_file: str | None = None
    log_format: str = "none"


TOOLS: dict[str, CliTool] = {
    "claude-code": CliTool(
        bin="claude",
        template="{bin} --print --verbose --output-format stream-json --dangerously-skip-permissions{model_flag} "
        '"$(cat {instruction_file})" > {log_dir}/claude-code.jsonl 2> {log_dir}/claude-code.stderr.txt',
        model_flag=" --model {model}",
        key_env=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
        base_url_env=("ANTHROPIC_BASE_URL",),
        hosts=("api.anthropic.com",),
        log_file="claude-code.jsonl",
        log_format="claude-stream-json",
    ),
    "codex": CliTool(
        bin="codex",
        template="{bin} exec --json --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox{model_flag} "
        '"$(cat {instruction_file})" > {log_dir}/codex.jsonl 2> {log_dir}/codex.stderr.txt',
        model_flag=" --model {model}",
        key_env=("OPENAI_API_KEY",),
        base_url_env=("OPENAI_BASE_URL",),
        hosts=("api.openai.com",),
        log_file="codex.jsonl",
        log_format="codex-jsonl",
    ),
    "aider": CliTool(
        bin="aider",
        template="{bin} --yes-always --no-git --no-auto-commits --no-pretty --no-stream --no-check-update "
        "--no-show-model-warnings --analytics-disable{model_flag} --message-file {instruction_file} "
        "--chat-history-file {log_dir}/aider.chat.md --llm-history-file {log_dir}/aider.llm-history.txt {files} "
        "> {log_dir}/aider.stdout.txt 2>&1",
        model_flag=" --model {model}",
        model_full=True,
        key_env=("ANTHROPIC_API_KEY", "OPENAI_API_KEY"),
        base_url_env=("OPENAI_API_BASE", "ANTHROPIC_BASE_URL"),
        hosts=("api.anthropic.com", "api.openai.com"),
    ),
}


def _csv(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, list | tuple):
        return [str(x).strip() for x in v if str(x).strip()]
    return [x.strip() for x in str(v).split(",") if x.strip()]


def _env_pairs(v: Any) -> dict[str, str]:
    """``K=V,K2=V2`` (a comma inside a value is kept unless it is followed by ``NAME=``)."""
    if not v:
        return {}
    out = {}
    for part in re.split(r",(?=\s*[A-Za-z_][A-Za-z0-9_]*=)", str(v)):
        k, sep, val = part.partition("=")
        if not sep or not k.strip():
            raise LooplabError(f"cli agent: env takes K=V,K2=V2; got {part!r}")
        out[k.strip()] = val
    return out


def _minutes(sec: float) -> str:
    m = max(1, round(sec / 60))
    return f"{m} minute" + ("s" if m != 1 else "")


def _fill(template: str, values: dict[str, str]) -> str:
    """Replace ``{name}`` placeholders only (shell ``${VAR}`` and other braces are left alone)."""
    out = template
    for k, v in values.items():
        out = out.replace("{" + k + "}", v)
    return out


class CliAgent(Agent):
    name = "cli"
    default_tool: str | None = None

    def __init__(
        self,
        tool: str | None = None,
        template: str | None = None,
        model: str | None = None,
        bin: str | None = None,
        allow: str | None = None,
        base_url: str | None = None,
        mounts: str | None = None,
        env: str | None = None,
        pass_env: str | None = None,
        log_file: str | None = None,
        log_format: str | None = None,
        prices: str | None = None,
        port: Any = DEFAULT_PORT,
    ):
        tool = tool or self.default_tool
        if tool is None and not template:
            raise LooplabError(
                f"the cli agent needs --ak tool={'|'.join(TOOLS)} or --ak template='CMD {{instruction_file}}'"
            )
        if tool is not None and tool not in TOOLS:
            raise LooplabError(
                f"cli agent: unknown tool {tool!r}; known: {', '.join(TOOLS)} (or use --ak template=...)"
            )
        self.tool_name = tool or "template"
        base = TOOLS[tool] if tool else CliTool(bin="", template="")
        self.tool = base
        self.template = template or base.template
        self.bin = bin or base.bin
        self.model = model
        self.base_url = base_url or None
        self.mounts = _csv(mounts)
        self.extra_env = _env_pairs(env)
        self.pass_env = _csv(pass_env)
        self.log_file = log_file or base.log_file
        self.log_format = log_format or base.log_format
        if self.log_format not in FORMATS:
            raise LooplabError(
                f"cli agent: log_format must be one of {', '.join(FORMATS)}, got {self.log_format!r}"
            )
        try:
            self.port = int(port)
        except (TypeError, ValueError):
            raise LooplabError(f"cli agent: port must be an integer, got {port!r}") from None
        self.prices = PriceTable.load(prices)
        hosts = [] if self.base_url else list(base.hosts)
        if self.base_url:
            u = urlsplit(self.base_url)
            if not u.hostname:
                raise LooplabError(f"cli agent: base_url {self.base_url!r} has no host")
            hosts.append(f"{u.hostname}:{u.port or (443 if u.scheme == 'https' else 80)}")
        self.allowed = hosts + _csv(allow)
        self._proxy: EgressProxy | None = None
        self._dir: Path | None = None

    # ---- trial hooks ------------------------------------------------------------------------
    def prepare_sandbox(self, spec: SandboxSpec, ctx: AgentContext) -> None:
        """Start the egress proxy and bind its socket (and any mounts) into the agent's sandbox."""
        self._dir = runtime_dir() / "sandboxes" / f"egress-{uuid.uuid4().hex[:10]}"
        self._dir.mkdir(parents=True)
        os.chmod(self._dir, 0o755)
        (self._dir / "forwarder.py").write_text(FORWARDER_SOURCE)
        os.chmod(self._dir / "forwarder.py", 0o644)
        self._proxy = EgressProxy(
            self.allowed, self._dir / "proxy.sock", ctx.logs_dir / "proxy.jsonl"
        ).start()
        spec.ro_binds.append((self._dir, SANDBOX_PROXY_DIR))
        for m in self.mounts:
            host, _, dest = m.partition(":")
            if not Path(host).exists():
                raise LooplabError(f"cli agent: mount {host!r} does not exist on the host")
            spec.ro_binds.append((Path(host), dest or host))

    def cleanup(self) -> None:
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
        if self._dir is not None:
            remove_tree(self._dir)
            self._dir = None

    # ---- the run ----------------------------------------------------------------------------
    def instruction_text(self, instruction: str, budget: Budget, ctx: AgentContext) -> str:
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=budget.remaining())
        dev = ctx.dev_check_command
        lines = [
            instruction.rstrip(),
            "",
            "---",
            f"Working folder: {ctx.workdir}. Only these files are scored: {', '.join(ctx.editable) or 'anything under ' + ctx.workdir}.",
        ]
        if dev:
            lines.append(f"Local check: `{dev}` (run it to check your work; hidden tests score the result).")
        lines.append(
            f"Time budget: {_minutes(budget.remaining())}, until {deadline:%H:%M:%S} UTC "
            "(`date -u` shows the current time). Keep improving until the deadline approaches; your files "
            "are scored as they are when the time is up."
        )
        return "\n".join(lines) + "\n"

    def command(self, ctx: AgentContext) -> str:
        model = self.model or ""
        if model and not self.tool.model_full and "/" in model:
            model = model.split("/", 1)[1]
        files = " ".join(shlex.quote(g) for g in ctx.editable if not any(ch in g for ch in "*?["))
        values = {
            "bin": self.bin,
            "model_flag": _fill(self.tool.model_flag, {"model": shlex.quote(model)}) if model else "",
            "model": shlex.quote(model),
            "instruction_file": INSTRUCTION_FILE,
            "log_dir": LOG_DIR,
            "workdir": ctx.workdir,
            "files": files,
        }
        return _fill(self.template, values)

    def environment(self) -> dict[str, str]:
        env = proxy_env(self.port) if self._proxy is not None else {}
        for var in self.tool.key_env + tuple(self.pass_env):
            if os.environ.get(var):
                env[var] = os.environ[var]
        if self.base_url:
            for var in self.tool.base_url_env:
                env[var] = self.base_url
        if self.tool_name == "claude-code":
            env.setdefault("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            env.setdefault("DISABLE_AUTOUPDATER", "1")
        env.update(self.extra_env)
        return env

    def run(self, instruction: str, sandbox: Sandbox, budget: Budget, ctx: AgentContext) -> AgentOutcome:
        traj = ctx.trajectory
        text = self.instruction_text(instruction, budget, ctx)
        w = sandbox.exec(
            ["/bin/sh", "-c", f'mkdir -p {LOG_DIR} && cat > "$1"', "sh", INSTRUCTION_FILE], stdin=text
        )
        if w.exit_code != 0:
            raise LooplabError(
                f"cli agent: cannot write {INSTRUCTION_FILE} in the sandbox: {w.stderr.strip()}"
            )
        traj.event("user", text=text)
        program = shlex.split(self.bin)[0] if self.bin else None
        if program:
            found = sandbox.exec(["/bin/sh", "-c", 'command -v "$1"', "sh", program], env=self.environment())
            if found.exit_code != 0:
                msg = (f"{program} is not installed in the sandbox: install it on the host where the sandbox sees it "
                       f"(/usr, read-only) or mount its folder with --ak mounts=DIR, or set --ak bin=PATH")  # fmt: skip
                traj.event("error", text=msg)
                return AgentOutcome(stop_reason="error", error=msg)
        if self._proxy is not None:
            f = sandbox.exec(forwarder_command(self.port), timeout=30)
            if f.exit_code != 0:
                raise LooplabError(f"cli agent: the egress forwarder did not start: {f.stderr.strip()[:500]}")
        else:
            traj.event("warning", text="no egress proxy (the agent was not prepared by a trial): no network")
        cmd = self.command(ctx)
        conv = make_converter(self.log_format, self.prices, self.model)
        capped: dict[str, str] = {}

        def check_caps() -> None:
            """Stop the tool when the usage read from its log reaches a turn, token or dollar cap."""
            u = conv.totals()
            reason = _cap_reached(budget, u)
            if reason and not capped:
                capped["reason"] = reason
                traj.event(
                    "cap", stop_reason=reason, turns=u.n_calls, tokens=u.total_tokens, cost_usd=u.cost_usd
                )
                sandbox.exec(KILL_TOOL, timeout=15)

        log = f"{LOG_DIR}/{self.log_file}" if self.log_file else None
        tailer = _Tailer(sandbox, log, conv, traj, on_update=check_caps)
        traj.event("cli_start", tool=self.tool_name, command=cmd, allowed_hosts=self.allowed)
        tailer.start()
        try:
            r = sandbox.exec(
                f"echo $$ > {PID_FILE} && exec /bin/bash -c {shlex.quote(cmd)}",
                timeout=max(1.0, budget.remaining()), env=self.environment(), cwd=ctx.workdir,
            )  # fmt: skip
        finally:
            tailer.stop()
        if not self.log_file and self.log_format != "none":
            for ev in [e for line in r.stdout.splitlines() for e in conv.feed(line)] + conv.flush():
                traj.event(ev.pop("type"), **ev)
        (ctx.logs_dir / "cli-output.txt").write_text(
            f"$ {cmd}\n[exit {r.exit_code}]\n{r.stdout}\n--- stderr ---\n{r.stderr}"
        )
        traj.event(
            "cli_exit",
            exit_code=r.exit_code,
            timed_out=r.timed_out,
            stdout=r.stdout[-4000:],
            stderr=r.stderr[-4000:],
        )
        usage = conv.totals()
        usage.cost_usd = round(usage.cost_usd, 10)
        extra = {
            "cli_tool": self.tool_name,
            "log_format": self.log_format,
            "cost_reported_by_tool": conv.reported_cost is not None,
        }
        if self._proxy is not None:
            ev = self._proxy.events
            extra["egress"] = {
                "allowed": sum(1 for e in ev if e["allowed"]),
                "refused": sum(1 for e in ev if not e["allowed"]),
            }
        if capped:
            return AgentOutcome(stop_reason=capped["reason"], usage=usage, extra=extra)
        if r.timed_out or budget.remaining() < 1.0:
            return AgentOutcome(stop_reason="timeout", usage=usage, extra=extra)
        if r.exit_code != 0:
            err = f"{self.tool_name} exited {r.exit_code}: {(r.stderr or r.stdout).strip()[-500:]}"
            return AgentOutcome(stop_reason="error", usage=usage, error=err, extra=extra)
        return AgentOutcome(stop_reason="finished", usage=usage, extra=extra)


def _cap_reached(budget: Budget, u: Usage) -> str | None:
    if budget.max_cost_usd is not None and u.cost_usd >= budget.max_cost_usd:
        return "max_cost"
    if budget.max_tokens is not None and u.total_tokens >= budget.max_tokens:
        return "max_tokens"
    if budget.max_turns is not None and u.n_calls >= budget.max_turns:
        return "max_turns"
    return None


class _Tailer:
    """Follows a log file the tool writes in the sandbox, converting new lines into trajectory events."""

    def __init__(
        self,
        sandbox: Sandbox,
        sandbox_path: str | None,
        conv: Converter,
        traj: Any,
        on_update: Callable[[], None] | None = None,
        interval: float = 0.25,
    ):
        self.sandbox, self.path, self.conv, self.traj = sandbox, sandbox_path, conv, traj
        self.on_update, self.interval = on_update, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pos = 0
        self._partial = b""

    def start(self) -> None:
        if self.path is None:
            return
        self._thread = threading.Thread(target=self._loop, daemon=True, name="cli-log-tailer")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._drain(final=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._drain()

    def _drain(self, final: bool = False) -> None:
        try:
            # relative: BwrapSandbox.host_path normalizes "/" + path, and "//x" stays "//x" under POSIX rules
            host = self.sandbox.host_path(self.path.lstrip("/")) if self.path else None
        except LooplabError:  # the path was made a symlink: not followed
            return
        if host is None:
            return
        try:  # the sandbox user owns this file: never follow a link or block on a fifo
            fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return
            os.lseek(fd, self._pos, os.SEEK_SET)
            data = os.read(fd, 8 << 20)
        except OSError:
            return
        finally:
            os.close(fd)
        self._pos += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = b"" if final else lines.pop()
        events = [ev for raw in lines for ev in self.conv.feed(raw.decode("utf-8", "replace"))]
        if final:
            events += self.conv.flush()
        for ev in events:
            self.traj.event(ev.pop("type"), **ev)
        if events and self.on_update is not None and not final:
            self.on_update()


class ClaudeCodeAgent(CliAgent):
    name = "claude-code"
    default_tool = "claude-code"


class CodexAgent(CliAgent):
    name = "codex"
    default_tool = "codex"


class AiderAgent(CliAgent):
    name = "aider"
    default_tool = "aider"
