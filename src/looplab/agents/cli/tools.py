"""The built-in CLI coding agents: how each is started, pointed at the gateway and installed.

A tool's ``template`` and ``env`` values may use ``{bin}``, ``{model}``,
``{model_flag}``, ``{instruction_file}``, ``{log_dir}``, ``{workdir}``, ``{files}``,
``{anthropic_url}`` / ``{openai_url}`` / ``{gemini_url}`` (the trial gateway's route for that provider,
as the provider's SDK takes it as a base URL) and ``{token}`` (the trial's dummy
key: the gateway puts the real one in its place). ``providers`` are the upstreams a
tool may call; with ``provider_from_model`` the model's ``PROVIDER/`` prefix picks
the one (aider, mini-swe-agent: litellm names).
"""

from __future__ import annotations

from dataclasses import dataclass, field

KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY"}
DEFAULT_BASE = {
    "anthropic": "https://api.anthropic.com",
    "openai": "https://api.openai.com/v1",
    "gemini": "https://generativelanguage.googleapis.com",
}


@dataclass(frozen=True)
class CliTool:
    bin: str
    template: str
    providers: tuple[str, ...] = ()
    provider_from_model: bool = False
    model_flag: str = ""  # {model_flag} when a model is given
    model_full: bool = False  # pass provider/name (litellm) rather than the bare name
    env: dict[str, str] = field(default_factory=dict)
    log_file: str | None = None
    log_format: str = "none"
    install: str = ""  # how a user installs it


_PROMPT = '"$(cat {instruction_file})"'

TOOLS: dict[str, CliTool] = {
    "claude-code": CliTool(
        bin="claude",
        template="{bin} --print --verbose --output-format stream-json --dangerously-skip-permissions{model_flag} "  # noqa: E501
        f"{_PROMPT} > {{log_dir}}/claude-code.jsonl 2> {{log_dir}}/claude-code.stderr.txt",
        providers=("anthropic",),
        model_flag=" --model {model}",
        env={
            "ANTHROPIC_BASE_URL": "{anthropic_url}",
            "ANTHROPIC_API_KEY": "{token}",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
        },
        log_file="claude-code.jsonl",
        log_format="claude-stream-json",
        install="npm install -g @anthropic-ai/claude-code",
    ),
    "codex": CliTool(
        bin="codex",
        template="{bin} exec --json --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox "
        "-c model_provider=looplab -c model_providers.looplab.name=looplab "
        "-c model_providers.looplab.base_url='\"{openai_url}\"' -c model_providers.looplab.wire_api=responses "  # noqa: E501
        "-c model_providers.looplab.env_key=CODEX_API_KEY{model_flag} "
        f"{_PROMPT} < /dev/null > {{log_dir}}/codex.jsonl 2> {{log_dir}}/codex.stderr.txt",
        providers=("openai",),
        model_flag=" --model {model}",
        env={"CODEX_API_KEY": "{token}", "OPENAI_API_KEY": "{token}"},
        log_file="codex.jsonl",
        log_format="codex-jsonl",
        install="npm install -g @openai/codex",
    ),
    "aider": CliTool(
        bin="aider",
        template="{bin} --yes-always --no-git --no-auto-commits --no-pretty --no-stream --no-check-update "
        "--no-show-release-notes "
        "--no-show-model-warnings --analytics-disable{model_flag} --message-file {instruction_file} "
        "--chat-history-file {log_dir}/aider.chat.md --llm-history-file {log_dir}/aider.llm-history.txt {files} "  # noqa: E501
        "> {log_dir}/aider.stdout.txt 2>&1",
        providers=("anthropic", "openai"),
        provider_from_model=True,
        model_flag=" --model {model}",
        model_full=True,
        env={
            "OPENAI_API_BASE": "{openai_url}",
            "OPENAI_API_KEY": "{token}",
            "ANTHROPIC_API_BASE": "{anthropic_url}",
            "ANTHROPIC_BASE_URL": "{anthropic_url}",
            "ANTHROPIC_API_KEY": "{token}",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        },
        log_file="aider.chat.md",
        log_format="aider-chat",
        install="pip install aider-chat in a venv on the host's PATH (or under /usr)",
    ),
    "qwen-code": CliTool(
        bin="qwen",
        template="{bin} --yolo --auth-type openai --openai-base-url {openai_url} --output-format stream-json "
        f"--chat-recording{{model_flag}} {_PROMPT} > {{log_dir}}/qwen-code.jsonl 2> {{log_dir}}/qwen-code.stderr.txt",  # noqa: E501
        providers=("openai",),
        model_flag=" --model {model}",
        env={
            "OPENAI_API_KEY": "{token}",
            "OPENAI_BASE_URL": "{openai_url}",
            # no usage statistics: at exit it waits for their upload, which the egress proxy refuses
            "QWEN_USAGE_STATISTICS_ENABLED": "false",
            "QWEN_TELEMETRY_ENABLED": "false",
        },
        log_file="qwen-code.jsonl",
        log_format="claude-stream-json",
        install="npm install -g @qwen-code/qwen-code",
    ),
    "mini-swe-agent": CliTool(
        bin="mini",
        template="{bin} --yolo --exit-immediately --cost-limit 0{model_flag} --task "
        + _PROMPT
        + " --output {log_dir}/mini-swe-agent.traj.json < /dev/null > {log_dir}/mini-swe-agent.stdout.txt 2>&1",  # noqa: E501
        providers=("anthropic", "openai"),
        provider_from_model=True,
        model_flag=" --model {model}",
        model_full=True,
        env={
            "OPENAI_API_BASE": "{openai_url}",
            "OPENAI_BASE_URL": "{openai_url}",
            "OPENAI_API_KEY": "{token}",
            "ANTHROPIC_API_BASE": "{anthropic_url}",
            "ANTHROPIC_BASE_URL": "{anthropic_url}",
            "ANTHROPIC_API_KEY": "{token}",
            "MSWEA_CONFIGURED": "true",
            "MSWEA_COST_TRACKING": "ignore_errors",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        },
        log_file="mini-swe-agent.traj.json",
        log_format="mini-swe-traj",
        install="pip install mini-swe-agent in a venv on the host's PATH (or under /usr)",
    ),
    "gemini-cli": CliTool(
        bin="gemini",
        # an API-key login in its user settings (with GOOGLE_GEMINI_BASE_URL alone it picks a "gateway" login
        # that its non-interactive mode refuses), and no usage statistics (uploads the egress proxy refuses)
        template='mkdir -p "$HOME/.gemini" && echo '
        '\'{"security": {"auth": {"selectedType": "gemini-api-key"}}, '
        '"privacy": {"usageStatisticsEnabled": false}}\' '
        '> "$HOME/.gemini/settings.json" && {bin} --yolo --output-format stream-json{model_flag} --prompt '
        + _PROMPT
        + " < /dev/null > {log_dir}/gemini-cli.jsonl 2> {log_dir}/gemini-cli.stderr.txt",
        providers=("gemini",),
        model_flag=" --model {model}",
        env={
            "GEMINI_API_KEY": "{token}",
            "GOOGLE_GEMINI_BASE_URL": "{gemini_url}",
            "GEMINI_CLI_NO_RELAUNCH": "true",
            "GEMINI_CLI_TRUST_WORKSPACE": "true",
        },
        log_file="gemini-cli.jsonl",
        log_format="gemini-stream-json",
        install="npm install -g @google/gemini-cli",
    ),
}
