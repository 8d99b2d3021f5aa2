"""Package-install lines in RUN steps: found, taken out of the step, and checked against the host.

A looplab environment is the host plus a layer, so ``apt-get install`` and ``pip
install`` are never executed. The packages they name are looked up on the host
(dpkg for Debian packages, the running interpreter's distributions for pip) and
the missing ones are reported with the command that would install them; a pinned pip
version that differs from the host's is reported too, and so is each tool the ignored
``FROM`` image would have brought (``ignored_from_note``).
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

APT_TOOLS = {"apt-get", "apt", "aptitude"}
PIP_VALUE_FLAGS = {
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-c",
    "--constraint",
    "--target",
    "-t",
    "--prefix",
    "--root",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--trusted-host",
    "--cache-dir",
    "--src",
    "--upgrade-strategy",
    "--progress-bar",
}
OTHER_INSTALLERS = {"apk", "yum", "dnf", "conda", "mamba", "micromamba", "npm", "yarn", "brew", "gem"}


@dataclass
class PackageCheck:
    apt: list[str] = field(default_factory=list)
    pip: list[str] = field(default_factory=list)
    missing_apt: list[str] = field(default_factory=list)
    missing_pip: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pins: dict[str, str] = field(default_factory=dict)  # pip name -> the exact version a RUN line pins

    def warnings(self) -> list[str]:
        out = []
        if self.missing_apt:
            out.append(
                f"Debian packages missing on this host: {' '.join(self.missing_apt)} "
                f"(install: apt-get install -y {' '.join(self.missing_apt)})"
            )
        if self.missing_pip:
            out.append(
                f"Python packages missing on this host: {' '.join(self.missing_pip)} "
                f"(install: {sys.prefix}/bin/pip install {' '.join(self.missing_pip)})"
            )
        return out + self.notes


def split_shell(cmd: str) -> list[str]:
    """Split a shell command at top-level ``&&``, ``||``, ``;``, ``|`` and newlines, keeping separators."""
    parts: list[str] = []
    cur: list[str] = []
    quote: str | None = None
    depth = 0
    i = 0
    while i < len(cmd):
        c = cmd[i]
        if quote:
            cur.append(c)
            if c == "\\" and quote == '"' and i + 1 < len(cmd):
                cur.append(cmd[i + 1])
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
            cur.append(c)
        elif c == "\\" and i + 1 < len(cmd):
            cur.append(c + cmd[i + 1])
            i += 1
        elif c == "(":
            depth += 1
            cur.append(c)
        elif c == ")":
            depth = max(0, depth - 1)
            cur.append(c)
        elif depth == 0 and cmd.startswith(("&&", "||"), i):
            parts += ["".join(cur), cmd[i : i + 2]]
            cur = []
            i += 1
        elif depth == 0 and c in ";|\n":
            parts += ["".join(cur), c]
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def _words(seg: str) -> list[str]:
    import shlex

    try:
        words = shlex.split(seg)
    except ValueError:
        words = seg.split()
    while words and (re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]) or words[0] in ("sudo", "env")):
        words = words[1:]
    return words


def _strip_version(name: str) -> str:
    return re.split(r"[=<>!~;\[ @]", name, maxsplit=1)[0].strip()


def classify(seg: str) -> tuple[str, list[str]] | None:
    """('apt'|'pip'|'other', packages) for a package-manager command segment, else None."""
    w = _words(seg)
    if not w:
        return None
    tool = w[0].rsplit("/", 1)[-1]
    if tool in APT_TOOLS:
        sub = [x for x in w[1:] if not x.startswith("-")]
        if sub and sub[0] == "install":
            return "apt", [_strip_version(x) for x in sub[1:] if not x.endswith(".deb")]
        return "apt", []
    rest: list[str] | None = None
    if re.fullmatch(r"pip[0-9.]*", tool):
        rest = w[1:]
    elif re.fullmatch(r"python[0-9.]*", tool) and w[1:3] == ["-m", "pip"]:
        rest = w[3:]
    elif tool == "uv" and w[1:2] == ["pip"]:
        rest = w[2:]
    if rest is not None:
        if not rest or rest[0] != "install":
            return "pip", []
        pkgs, skip = [], False
        for x in rest[1:]:
            if skip:
                skip = False
                continue
            if x in PIP_VALUE_FLAGS or x in ("-r", "--requirement", "-e", "--editable"):
                skip = True
                continue
            if x.startswith("-") or "/" in x or x.endswith((".whl", ".tar.gz", ".zip")):
                continue
            pkgs.append(_strip_version(x))
        return "pip", [p for p in pkgs if p]
    if tool in OTHER_INSTALLERS and len(w) > 1 and w[1] in ("add", "install", "i", "create"):
        return "other", w[2:]
    return None


def rewrite_run(cmd: str, check: PackageCheck) -> str:
    """Replace package-manager segments with ``true`` and record what they asked for."""
    parts = split_shell(cmd)
    for i in range(0, len(parts), 2):
        found = classify(parts[i])
        if found is None:
            continue
        kind, pkgs = found
        if kind == "apt":
            check.apt += pkgs
        elif kind == "pip":
            check.pip += pkgs
            check.pins.update(_pins(parts[i]) if pkgs else {})
        else:
            check.notes.append(f"not executed (no such installer in looplab): {parts[i].strip()}")
        parts[i] = " true "
    return "".join(parts)


def apt_installed(name: str) -> bool:
    if not shutil.which("dpkg-query"):
        return shutil.which(name) is not None
    r = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}\n", name], capture_output=True, text=True, check=False
    )
    if r.returncode == 0 and "install ok installed" in r.stdout:
        return True
    # a virtual package (e.g. python3-dev provided by another) or a binary of that name
    r = subprocess.run(
        ["dpkg-query", "-W", "-f=${Provides}\n", "*"], capture_output=True, text=True, check=False
    )
    return bool(re.search(rf"(^|[ ,]){re.escape(name)}([ ,(]|$)", r.stdout, re.M))


def pip_installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        alt = name.replace("-", "_") if "-" in name else name.replace("_", "-")
        try:
            importlib.metadata.distribution(alt)
            return True
        except importlib.metadata.PackageNotFoundError:
            return False


def check_host(check: PackageCheck) -> PackageCheck:
    check.apt = sorted(set(check.apt))
    check.pip = sorted(set(check.pip))
    check.missing_apt = [p for p in check.apt if not apt_installed(p)]
    check.missing_pip = [p for p in check.pip if not pip_installed(p)]
    for name, want in sorted(check.pins.items()):
        base = name.split("[", 1)[0]
        if base in check.missing_pip:
            continue
        have = _pip_version(base)
        if have is not None and have != want:
            check.notes.append(f"{base}=={want} is pinned but this host has {base} {have} (use --base image)")
    return check


def _pins(seg: str) -> dict[str, str]:
    """``name==version`` words of a pip command."""
    out = {}
    for w in _words(seg):
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([A-Za-z0-9_.+!-]+)", w)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _pip_version(name: str) -> str | None:
    for cand in (name, name.replace("-", "_"), name.replace("_", "-")):
        try:
            return importlib.metadata.version(cand)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


# what an ignored FROM image would have brought: the commands that must then be on the host
IMAGE_TOOLS = {
    "rust": ("cargo", "rustc"),
    "golang": ("go",),
    "node": ("node", "npm"),
    "openjdk": ("java",),
    "eclipse-temurin": ("java",),
    "gcc": ("gcc",),
    "ruby": ("ruby",),
    "julia": ("julia",),
    "r-base": ("R",),
}


def ignored_from_note(image: str) -> str:
    """What host mode says about ``FROM image``: that it is ignored, and which tool or version it lacks."""
    repo = image.split("@", 1)[0].rsplit("/", 1)[-1]
    name, _, tag = repo.partition(":")
    lacking = [t for t in IMAGE_TOOLS.get(name, ()) if shutil.which(t) is None]
    if name in ("python", "pypy") and (m := re.match(r"(\d+)\.(\d+)", tag)):
        want = (int(m.group(1)), int(m.group(2)))
        if want != sys.version_info[:2]:
            lacking.append(
                f"python {want[0]}.{want[1]} (this host runs {sys.version_info[0]}.{sys.version_info[1]})"
            )
    what = f"FROM {image} ignored (host base)"
    return f"{what}: missing on this host: {', '.join(lacking)} (use --base image)" if lacking else what
