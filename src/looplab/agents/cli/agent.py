"""``cli`` agents: Claude Code, Codex CLI, aider, Qwen Code, mini-swe-agent, Gemini CLI or any command
template, run inside the sandbox.

The instruction (with the working folder, the editable files, the dev check and the
deadline in wall-clock time appended) is written to ``/logs/agent/instruction.md``
and the tool is started in /app with ``timeout`` = the time left. Its model calls go
to the trial's model gateway (``looplab.gateway``, on the host, reached through an
in-sandbox relay at ``127.0.0.1:PORT+1``): the tool is pointed at it (its base-URL
variable, flag or config key, ``tools.TOOLS``) and holds only a per-trial dummy
token; the gateway forwards to the provider (``--base-url`` or the provider's API)
with the real key, which never enters the sandbox, meters every call (tokens,
dollars: ``result.json``'s usage), records it (``agent/model-calls.jsonl`` and a
``model_call`` trajectory event) and enforces the model-call (``--max-turns``), token
and dollar caps: the call arriving at a cap is answered with an error naming it,
and the tool is stopped a moment later with that stop reason. Anything else the
tool reaches goes through the egress proxy (``proxy``): only ``allow`` hosts, every
other destination refused. The tool's native log is written under /logs/agent,
read while the tool runs (a whole-document log once it has ended) and converted into trajectory
events (``logs``, followed by ``tailer``).

The tool's program is found in the sandbox (the host's /usr is bound) or, when only the host's PATH has
it, its install folder (an npm prefix, a venv) is bound read-only (``preflight.host_install``).

Agent arguments (``--ak KEY=VALUE``, validated by ``options.CliOptions``): ``tool`` (claude-code,
codex, aider, qwen-code, mini-swe-agent, gemini-cli) or ``template`` (a shell command with
the placeholders of ``tools``), ``bin`` (the program to run instead of the tool's own),
``allow`` (extra hosts, comma-separated),
``base_url`` (the model provider's endpoint the gateway forwards to), ``mounts``
(``HOST[:SANDBOX],...`` read-only, e.g. where the tool is installed), ``env``
(``K=V,...``), ``pass_env`` (host variables to pass; never a key variable),
``log_file`` and ``log_format`` (for templates: a file under /logs/agent in one of
``logs.FORMATS``), ``prices`` (a price file), ``port``
(the egress forwarder's port; the gateway's is the next one).
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from looplab.agents.base import Agent, AgentContext, AgentOutcome, Budget, BudgetLimits
from looplab.agents.cli.logs import FORMATS, make_converter
from looplab.agents.cli.options import CliOptions, csv_items, env_pairs
from looplab.agents.cli.preflight import found_on_host_path, install_hint, preflight_problems
from looplab.agents.cli.tailer import LogTailer, tool_usage
from looplab.agents.cli.tools import DEFAULT_BASE, KEY_ENV, TOOLS, CliTool
from looplab.agents.llm.pricing import PriceTable
from looplab.agents.trajectory import Trajectory
from looplab.errors import LooplabError
from looplab.fsutil import remove_tree
from looplab.gateway.metering import Caps
from looplab.gateway.server import ModelGateway, Upstream
from looplab.sandbox.base import Sandbox, SandboxSpec
from looplab.sandbox.egress import SANDBOX_PROXY_DIR, EgressProxy, forwarder_command, proxy_env
from looplab.sandbox.relay import FORWARDER_SOURCE
from looplab.settings import runtime_dir

LOG_DIR = "/logs/agent"
INSTRUCTION_FILE = f"{LOG_DIR}/instruction.md"
PID_FILE = "/tmp/looplab-cli.pid"  # the tool's process group (each sandbox command runs in its own session)
KILL_TOOL = (
    f'p=$(cat {PID_FILE} 2>/dev/null) || exit 0; kill -TERM -- -"$p" 2>/dev/null; '
    f'for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- -"$p" 2>/dev/null || exit 0; sleep 0.2; done; kill -KILL -- -"$p" 2>/dev/null; true'  # noqa: E501
)
CAP_GRACE_S = 2.0  # after the refused call, the tool may show the error and exit by itself


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
    Options = CliOptions

    def __init__(self, **options: Any):
        o = CliOptions.parse(f"{self.name} agent", options)
        self.options = o
        tool, template, bin = o.tool or self.default_tool, o.template, o.bin
        model, base_url, log_file, log_format = o.model, o.base_url, o.log_file, o.log_format
        if tool is None and not template:
            raise LooplabError(
                f"the cli agent needs --ak tool={'|'.join(TOOLS)} or --ak template='CMD {{instruction_file}}'"
            )
        if tool is not None and tool not in TOOLS:
            raise LooplabError(
                f"cli agent: unknown tool {tool!r}; known: {', '.join(TOOLS)} (or use --ak template=...)"
            )
        self.tool_name = tool or "template"
        base = (
            TOOLS[tool]
            if tool
            else CliTool(bin="", template="", providers=("anthropic", "openai"), provider_from_model=True)
        )
        self.tool = base
        self.template = template or base.template
        self.bin = bin or base.bin
        self.model = model
        self.base_url = base_url or None
        self.mounts = csv_items(o.mounts)
        self.extra_env = env_pairs(o.env)
        self.pass_env = csv_items(o.pass_env)
        self.installed_at: str | None = None  # the install folder bound because the host's PATH has the tool
        if tool is not None and not bin and (hit := found_on_host_path(self)) is not None:
            self.bin, self.installed_at = hit
            self.mounts.append(self.installed_at)
        keys = set(KEY_ENV.values()) | {"ANTHROPIC_AUTH_TOKEN", "CODEX_API_KEY"}
        if bad := [v for v in self.pass_env if v in keys]:
            raise LooplabError(
                f"cli agent: pass_env may not pass {', '.join(bad)}: the key stays on the host "
                "(the trial's model gateway adds it to every model call)"
            )
        self.log_file = log_file or base.log_file
        self.log_format = log_format or base.log_format
        if self.log_format not in FORMATS:
            raise LooplabError(
                f"cli agent: log_format must be one of {', '.join(FORMATS)}, got {self.log_format!r}"
            )
        self.port = o.port
        self.prices = PriceTable.load(o.prices)
        self.providers = self._providers()
        self.allowed = csv_items(o.allow)  # model traffic goes through the gateway, not the egress proxy
        self.token = f"looplab-trial-{uuid.uuid4().hex}"
        self._proxy: EgressProxy | None = None
        self._gateway: ModelGateway | None = None
        self._dir: Path | None = None
        self._traj: Trajectory | None = None  # the run's trajectory the gateway's calls go to
        self._relayed: Sandbox | None = None  # the sandbox whose relays run (a kept one keeps them)

    @property
    def gateway_port(self) -> int:
        return self.port + 1

    def _providers(self) -> list[str]:
        """The providers this run may call: the model's ``PROVIDER/`` prefix where the tool takes any."""
        prefix = self.model.split("/", 1)[0] if self.model and "/" in self.model else None
        if self.tool.provider_from_model and prefix in self.tool.providers:
            return [prefix]
        return list(self.tool.providers)

    def upstreams(self) -> list[Upstream]:
        """Where the gateway forwards: ``base_url`` for the run's provider, else the provider's API; the
        host's key."""
        out = []
        for i, p in enumerate(self.providers):
            key = os.environ.get(KEY_ENV[p]) or (
                os.environ.get("ANTHROPIC_AUTH_TOKEN") if p == "anthropic" else None
            )
            url = self.base_url if self.base_url and i == 0 else DEFAULT_BASE[p]
            out.append(Upstream(p, url, key or None, p))
        return out

    def preflight(self, budget: BudgetLimits | None = None) -> list[str]:
        """What stops this agent from running a trial (one line each): binary, key variable, price."""
        return preflight_problems(self, budget or BudgetLimits())

    # ---- trial hooks ------------------------------------------------------------------------
    def prepare_sandbox(self, spec: SandboxSpec, ctx: AgentContext) -> None:
        """Start the model gateway and the egress proxy; bind their sockets (and any mounts) into the
        sandbox."""
        self._dir = runtime_dir() / "sandboxes" / f"egress-{uuid.uuid4().hex[:10]}"
        self._dir.mkdir(parents=True)
        os.chmod(self._dir, 0o755)
        (self._dir / "forwarder.py").write_text(FORWARDER_SOURCE)
        os.chmod(self._dir / "forwarder.py", 0o644)
        self._proxy = EgressProxy(
            self.allowed, self._dir / "proxy.sock", ctx.logs_dir / "proxy.jsonl"
        ).start()
        self._traj = ctx.trajectory
        self._gateway = ModelGateway(
            self.upstreams(),
            self.token,
            ctx.logs_dir / "model-calls.jsonl",
            prices=self.prices,
            on_call=lambda call: self._traj.event("model_call", **call) if self._traj else None,
        ).serve_unix(self._dir / "gateway.sock")
        spec.ro_binds.append((self._dir, SANDBOX_PROXY_DIR))
        for m in self.mounts:
            host, _, dest = m.partition(":")
            if not Path(host).exists():
                raise LooplabError(f"cli agent: mount {host!r} does not exist on the host")
            spec.ro_binds.append((Path(host), dest or host))

    def cleanup(self) -> None:
        for svc in (self._gateway, self._proxy):
            if svc is not None:
                svc.stop()
        self._gateway = self._proxy = None
        self._traj = self._relayed = None
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
            f"Working folder: {ctx.workdir}. Only these files are scored: {', '.join(ctx.editable) or 'anything under ' + ctx.workdir}.",  # noqa: E501
        ]
        if dev:
            lines.append(f"Local check: `{dev}` (run it to check your work; hidden tests score the result).")
        lines.append(
            f"Time budget: {_minutes(budget.remaining())}, until {deadline:%H:%M:%S} UTC "
            "(`date -u` shows the current time). Keep improving until the deadline approaches; your files "
            "are scored as they are when the time is up."
        )
        return "\n".join(lines) + "\n"

    def _values(self, ctx: AgentContext | None) -> dict[str, str]:
        model = self.model or ""
        if model and not self.tool.model_full and "/" in model:
            model = model.split("/", 1)[1]
        editable = ctx.editable if ctx else []
        files = " ".join(shlex.quote(g) for g in editable if not any(ch in g for ch in "*?["))
        gw = f"http://127.0.0.1:{self.gateway_port}"
        return {
            "bin": self.bin,
            "model_flag": _fill(self.tool.model_flag, {"model": shlex.quote(model)}) if model else "",
            "model": shlex.quote(model),
            "instruction_file": INSTRUCTION_FILE,
            "log_dir": LOG_DIR,
            "workdir": ctx.workdir if ctx else "/app",
            "files": files,
            "anthropic_url": f"{gw}/anthropic",
            "openai_url": f"{gw}/openai",
            "gemini_url": f"{gw}/gemini",
            "token": self.token,
        }

    def command(self, ctx: AgentContext) -> str:
        return _fill(self.template, self._values(ctx))

    def environment(self) -> dict[str, str]:
        env = proxy_env(self.port) if self._proxy is not None else {}
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"  # the gateway is reached directly
        values = self._values(None)
        values["model"] = values["model"].strip("'")
        for k, v in self.tool.env.items():
            env[k] = _fill(v, values)
        if self.tool_name == "template":  # a template's tool gets the usual variables of both providers
            env.update(
                {
                    "ANTHROPIC_BASE_URL": values["anthropic_url"],
                    "OPENAI_BASE_URL": values["openai_url"],
                    "ANTHROPIC_API_KEY": self.token,
                    "OPENAI_API_KEY": self.token,
                }
            )
        for var in self.pass_env:
            if os.environ.get(var):
                env[var] = os.environ[var]
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
                msg = f"{program} is not installed in the sandbox: {install_hint(self)}"
                traj.event("error", text=msg)
                return AgentOutcome(stop_reason="error", error=msg)
        gw = self._gateway
        if self._proxy is not None and gw is not None:
            # run again in the sandbox of a multi-step trial: this step's logs, caps and trajectory
            self._traj = traj
            gw.restart(ctx.logs_dir / "model-calls.jsonl")
            self._proxy.log_path = ctx.logs_dir / "proxy.jsonl"
            for port, sock in ((self.port, "proxy.sock"), (self.gateway_port, "gateway.sock")):
                if self._relayed is sandbox:  # the relays of an earlier run still serve
                    break
                f = sandbox.exec(forwarder_command(port, SANDBOX_PROXY_DIR, sock), timeout=30)
                if f.exit_code != 0:
                    raise LooplabError(
                        f"cli agent: the in-sandbox relay did not start: {f.stderr.strip()[:500]}"
                    )
            self._relayed = sandbox
            gw.set_caps(
                Caps(
                    max_calls=budget.max_turns, max_tokens=budget.max_tokens, max_cost_usd=budget.max_cost_usd
                )
            )
        else:
            traj.event("warning", text="no model gateway (the agent was not prepared by a trial): no network")
        cmd = self.command(ctx)
        conv = make_converter(self.log_format, self.prices, self.model)
        capped: dict[str, str] = {}
        done = threading.Event()

        def watch_caps() -> None:
            """Once the gateway refused a call at a cap: record it, give the tool a moment to show the
            error and exit, then stop it."""
            while gw is not None and not done.wait(0.1):
                if gw.capped and gw.state.capped_at is not None:
                    capped["reason"] = gw.capped
                    _cap_event(traj, gw)
                    if not done.wait(max(0.0, gw.state.capped_at + CAP_GRACE_S - time.monotonic())):
                        sandbox.exec(KILL_TOOL, timeout=15)
                    return

        log = f"{LOG_DIR}/{self.log_file}" if self.log_file else None
        tailer = LogTailer(sandbox, log, conv, traj)
        traj.event(
            "cli_start",
            tool=self.tool_name,
            command=cmd,
            allowed_hosts=self.allowed,
            installed_at=self.installed_at,
            providers=[f"{u.name} -> {u.base_url}" for u in self.upstreams()],
        )
        watcher = threading.Thread(target=watch_caps, daemon=True, name="cli-caps")
        tailer.start()
        watcher.start()
        try:
            r = sandbox.exec(
                f"echo $$ > {PID_FILE} && exec /bin/bash -c {shlex.quote(cmd)}",
                timeout=max(1.0, budget.remaining()),
                env=self.environment(),
                cwd=ctx.workdir,
            )
        finally:
            done.set()
            watcher.join(timeout=20)
            tailer.stop()
        if not self.log_file and self.log_format != "none":  # the tool's log is its stdout
            for ev in conv.document(r.stdout):
                traj.event(ev.pop("type"), **tool_usage(ev))
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
        reported = conv.totals()
        extra: dict[str, Any] = {
            "cli_tool": self.tool_name,
            "log_format": self.log_format,
            "usage_reported_by_tool": asdict(reported),
            "cost_reported_by_tool": conv.reported_cost,
        }
        if self.installed_at:
            extra["cli_installed_at"] = self.installed_at
        if gw is not None:
            usage = gw.usage()
            extra["gateway"] = {
                "requests": gw.state.calls,
                "refused": gw.state.refused,
                "unpriced_models": sorted(gw.state.unpriced_models),
            }
        else:
            usage = reported
        usage.cost_usd = round(usage.cost_usd, 10)
        if self._proxy is not None:
            ev = self._proxy.events
            extra["egress"] = {
                "allowed": sum(1 for e in ev if e["allowed"]),
                "refused": sum(1 for e in ev if not e["allowed"]),
            }
        if gw is not None and gw.capped and not capped:  # refused just as the tool ended
            _cap_event(traj, gw)
        reason = capped.get("reason") or (gw.capped if gw is not None else None)
        if reason:
            return AgentOutcome(stop_reason=reason, usage=usage, extra=extra)
        if r.timed_out or budget.remaining() < 1.0:
            return AgentOutcome(stop_reason="timeout", usage=usage, extra=extra)
        if r.exit_code != 0:
            err = f"{self.tool_name} exited {r.exit_code}: {(r.stderr or r.stdout).strip()[-500:]}"
            return AgentOutcome(stop_reason="error", usage=usage, error=err, extra=extra)
        return AgentOutcome(stop_reason="finished", usage=usage, extra=extra)


def _cap_event(traj: Any, gw: ModelGateway) -> None:
    """The trajectory's ``cap`` event: which cap the gateway refused a call at, and the usage then."""
    u = gw.usage()
    traj.event(
        "cap",
        stop_reason=gw.capped,
        model_calls=u.n_calls,
        tokens=u.total_tokens,
        cost_usd=u.cost_usd,
        refused_calls=gw.state.refused,
    )


def _tool_agent(cls_name: str, tool: str) -> type[CliAgent]:
    """The agent of one built-in tool: ``CliAgent`` with ``tool`` as its name and default tool."""
    return type(cls_name, (CliAgent,), {"name": tool, "default_tool": tool, "__module__": __name__})


# the registry's per-tool names (``agents.registry.AGENTS``)
ClaudeCodeAgent = _tool_agent("ClaudeCodeAgent", "claude-code")
CodexAgent = _tool_agent("CodexAgent", "codex")
AiderAgent = _tool_agent("AiderAgent", "aider")
QwenCodeAgent = _tool_agent("QwenCodeAgent", "qwen-code")
MiniSweAgent = _tool_agent("MiniSweAgent", "mini-swe-agent")
GeminiCliAgent = _tool_agent("GeminiCliAgent", "gemini-cli")
