"""The lab's git operations, all through real ``git`` subprocesses.

The lab works on its own branch of the user's repository. The agent never edits
the working tree: it edits a private copy, and the host turns that copy into a
git tree object with a throw-away index (``candidate_tree``), so exactly the
pipeline's files count (added, changed and deleted ones; ignored files do not).
A keep is ``commit-tree`` of that tree on the branch tip plus a compare-and-swap
``update-ref``; the working tree's pipeline paths are then made exactly equal to
the new tip (``restore``: index and files reset, untracked files removed), which
is also what a discard does. Nothing outside the pipeline paths is touched.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from looplab.errors import LooplabError
from looplab.fsutil import remove_tree

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}
SHA_RE = re.compile(r"^[0-9a-f]{40}$")


def git(
    repo: Path, *args: str, input: bytes | None = None, env: dict[str, str] | None = None, check: bool = True
) -> str:
    """Run ``git -C repo args``; return stdout (text). Raises LooplabError with git's message."""
    full_env = {**os.environ, **GIT_ENV, **(env or {})}
    p = subprocess.run(
        ["git", "-C", str(repo), *args], input=input, capture_output=True, env=full_env, check=False
    )
    if check and p.returncode != 0:
        msg = (p.stderr or p.stdout).decode(errors="replace").strip().splitlines()
        raise LooplabError(f"git {args[0]} failed in {repo}: {msg[-1] if msg else f'exit {p.returncode}'}")
    return p.stdout.decode(errors="replace")


def repo_root(path: Path) -> Path | None:
    p = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--show-toplevel"],
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=False,
    )
    return Path(p.stdout.strip()).resolve() if p.returncode == 0 else None


def init_repo(path: Path) -> None:
    git(path, "init", "-q")


def identity_env(repo: Path) -> dict[str, str]:
    """Author/committer for lab commits: the repo's own identity, else 'looplab'."""
    return dict(_identity_env(str(repo)))


@functools.lru_cache(maxsize=64)
def _identity_env(repo_s: str) -> tuple[tuple[str, str], ...]:
    repo = Path(repo_s)
    env: dict[str, str] = {}
    if not git(repo, "config", "user.name", check=False).strip() and "GIT_AUTHOR_NAME" not in os.environ:
        env.update(GIT_AUTHOR_NAME="looplab", GIT_COMMITTER_NAME="looplab")
    if not git(repo, "config", "user.email", check=False).strip() and "GIT_AUTHOR_EMAIL" not in os.environ:
        env.update(GIT_AUTHOR_EMAIL="looplab@localhost", GIT_COMMITTER_EMAIL="looplab@localhost")
    return tuple(env.items())


def rev(repo: Path, what: str) -> str | None:
    out = git(repo, "rev-parse", "-q", "--verify", f"{what}^{{object}}", check=False).strip()
    return out or None


def current_branch(repo: Path) -> str | None:
    out = git(repo, "symbolic-ref", "-q", "--short", "HEAD", check=False).strip()
    return out or None


def has_commits(repo: Path) -> bool:
    return rev(repo, "HEAD") is not None


def tree_of(repo: Path, commit: str) -> str:
    if SHA_RE.match(commit):  # a commit's tree never changes: ask git once
        return _tree_of_sha(str(repo), commit)
    return git(repo, "rev-parse", f"{commit}^{{tree}}").strip()


@functools.lru_cache(maxsize=4096)
def _tree_of_sha(repo_s: str, commit: str) -> str:
    return git(Path(repo_s), "rev-parse", f"{commit}^{{tree}}").strip()


def object_exists(repo: Path, sha: str) -> bool:
    return (
        subprocess.run(
            ["git", "-C", str(repo), "cat-file", "-e", sha], capture_output=True, check=False
        ).returncode
        == 0
    )


def parent_of(repo: Path, commit: str) -> str | None:
    return rev(repo, f"{commit}^")


def checkout_branch(repo: Path, branch: str) -> str | None:
    """Switch the working tree to ``branch``, creating it at HEAD if needed: 'created', 'switched' or None."""
    if current_branch(repo) == branch:
        return None
    created = rev(repo, f"refs/heads/{branch}") is None
    args = ["checkout", "-q", "-b", branch] if created else ["checkout", "-q", branch]
    git(repo, *args)
    return "created" if created else "switched"


def dirty_paths(repo: Path, pathspecs: Sequence[str]) -> list[str]:
    """Pipeline files that differ from HEAD in the index or working tree (untracked included)."""
    out = git(repo, "status", "--porcelain", "-z", "--untracked-files=all", "--", *pathspecs)
    return [e[3:] for e in out.split("\0") if len(e) > 3]


@functools.lru_cache(maxsize=64)
def git_dir(repo_s: str) -> Path:
    return Path(git(Path(repo_s), "rev-parse", "--absolute-git-dir").strip())


def _tmp_index(repo: Path) -> str:
    fd, path = tempfile.mkstemp(prefix="looplab-index-", dir=git_dir(str(repo)))
    os.close(fd)
    os.unlink(path)  # git wants to create it itself
    return path


def candidate_tree(repo: Path, base: str, work_root: Path, pathspecs: Sequence[str]) -> str:
    """The tree of ``base`` with the pipeline paths replaced by what is under ``work_root``.

    ``work_root`` mirrors the repository root. Files there outside the pipeline paths
    are ignored; files git ignores (per the .gitignore files in ``work_root`` and the
    repository's excludes) are not part of the pipeline.
    """
    idx = _tmp_index(repo)
    env = {"GIT_INDEX_FILE": idx, "GIT_WORK_TREE": str(work_root)}
    try:
        git(repo, "read-tree", base, env=env)
        listing = git(
            repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *pathspecs, env=env
        )
        if listing:
            git(
                repo,
                "update-index",
                "--add",
                "--remove",
                "--replace",
                "-z",
                "--stdin",
                input=listing.encode(),
                env=env,
            )
        return git(repo, "write-tree", env=env).strip()
    finally:
        Path(idx).unlink(missing_ok=True)


def materialize(repo: Path, tree: str, pathspecs: Sequence[str], dest: Path) -> list[str]:
    """Write the pipeline files of ``tree`` under ``dest`` (mirroring the repo root); return their paths."""
    idx = _tmp_index(repo)
    env = {"GIT_INDEX_FILE": idx}
    dest.mkdir(parents=True, exist_ok=True)
    try:
        git(repo, "read-tree", tree, env=env)
        listing = git(repo, "ls-files", "-z", "--", *pathspecs, env=env)
        if listing:
            prefix = str(dest).rstrip("/") + "/"
            git(
                repo,
                "checkout-index",
                f"--prefix={prefix}",
                "-f",
                "-z",
                "--stdin",
                input=listing.encode(),
                env=env,
            )
        return [p for p in listing.split("\0") if p]
    finally:
        Path(idx).unlink(missing_ok=True)


def apply_diff(repo: Path, old_tree: str, new_tree: str, pathspecs: Sequence[str], dest: Path) -> list[str]:
    """Turn ``dest`` (a materialized copy of ``old_tree``) into a copy of ``new_tree``; return the paths
    changed.

    Files that change are unlinked first and written anew, never written through,
    so ``dest`` may share inodes (hard links) with another copy without touching it.
    """
    raw = git(repo, "diff-tree", "-r", "-z", "--no-renames", old_tree, new_tree, "--", *pathspecs)
    parts = raw.split("\0")
    entries: list[tuple[str, str, str, str]] = []  # (status, new mode, new sha, path)
    i = 0
    while i + 1 < len(parts) and parts[i].startswith(":"):
        _old_mode, new_mode, _old_sha, new_sha, status = parts[i][1:].split(" ")
        entries.append((status[0], new_mode, new_sha, parts[i + 1]))
        i += 2
    dest = Path(dest)
    for _status, _mode, _sha, rel in entries:  # every changed path goes first (deletions, type changes)
        p = dest / rel
        if p.is_symlink() or p.is_file():
            p.unlink()
        elif p.is_dir():
            remove_tree(p)
        parent = p.parent
        while parent != dest and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    writes = [(mode, sha, rel) for status, mode, sha, rel in entries if status != "D"]
    if writes:
        blobs = _read_blobs(repo, [sha for _m, sha, _r in writes])
        for mode, sha, rel in writes:
            p = dest / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if mode == "120000":
                os.symlink(blobs[sha].decode(errors="surrogateescape"), p)
            elif mode == "160000":  # a submodule: git checks out an empty folder
                p.mkdir(exist_ok=True)
            else:
                p.write_bytes(blobs[sha])
                os.chmod(p, 0o755 if mode == "100755" else 0o644)
    return [rel for _s, _m, _sha, rel in entries]


def _read_blobs(repo: Path, shas: list[str]) -> dict[str, bytes]:
    """Blob contents, all through one ``git cat-file --batch``."""
    wanted = sorted(set(shas))
    out = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "--batch"],
        input=("\n".join(wanted) + "\n").encode(),
        capture_output=True,
        check=True,
        env={**os.environ, **GIT_ENV},
    ).stdout
    blobs: dict[str, bytes] = {}
    pos = 0
    for sha in wanted:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].decode().split()
        if len(header) != 3:
            raise LooplabError(f"git cat-file: no blob {sha} in {repo}")
        size = int(header[2])
        blobs[sha] = out[nl + 1 : nl + 1 + size]
        pos = nl + 1 + size + 1
    return blobs


def ignore_files(repo: Path, tree: str, pathspecs: Sequence[str]) -> list[str]:
    """The .gitignore files of ``tree`` on the way from the root to each pipeline path."""
    wanted: set[str] = set()
    for spec in pathspecs:
        parts = spec.removeprefix(":(glob)").split("/")
        for i in range(len(parts)):
            wanted.add("/".join([*parts[:i], ".gitignore"]))
    have = git(repo, "ls-tree", "-r", "-z", "--name-only", tree, "--", *sorted(wanted)).split("\0")
    return [p for p in have if p]


def commit(repo: Path, tree: str, parent: str, message: str) -> str:
    return git(
        repo, "commit-tree", tree, "-p", parent, "-F", "-", input=message.encode(), env=identity_env(repo)
    ).strip()


def advance_branch(repo: Path, branch: str, new: str, old: str, reason: str) -> None:
    """Move ``branch`` from ``old`` to ``new``, refusing if someone else moved it meanwhile."""
    git(repo, "update-ref", "-m", reason, f"refs/heads/{branch}", new, old)


def set_ref(repo: Path, ref: str, sha: str) -> None:
    git(repo, "update-ref", ref, sha)


def restore(repo: Path, pathspecs: Sequence[str]) -> None:
    """Make the pipeline paths of the index and the working tree exactly HEAD's.

    Changed and deleted files come back, files HEAD does not have are removed
    (untracked ones too); ignored files are left alone.
    """
    git(repo, "reset", "-q", "HEAD", "--", *pathspecs)
    changed = git(repo, "ls-files", "-z", "--modified", "--deleted", "--", *pathspecs)
    if changed:
        names = sorted({p for p in changed.split("\0") if p})
        git(repo, "checkout-index", "-f", "-z", "--stdin", input="\0".join(names).encode() + b"\0")
    git(repo, "clean", "-f", "-d", "-q", "--", *pathspecs)
    # a path that is a folder in the working tree but a file in HEAD (or the reverse)
    rest = dirty_paths(repo, pathspecs)
    if rest:
        for rel in rest:
            p = repo / rel
            if p.is_dir() and not p.is_symlink():
                remove_tree(p)
        git(repo, "checkout", "-q", "HEAD", "--", *[r for r in rest if (rev(repo, f"HEAD:{r}"))])
        if dirty_paths(repo, pathspecs):
            raise LooplabError(f"could not restore the pipeline to HEAD in {repo}: {rest[:5]}")


def changed_files(
    repo: Path, old_tree: str, new_tree: str, pathspecs: Sequence[str]
) -> list[tuple[str, str]]:
    """(status letter, path) for each pipeline file that differs between two trees."""
    out = git(
        repo, "diff-tree", "-r", "-z", "--no-renames", "--name-status", old_tree, new_tree, "--", *pathspecs
    )
    parts = [p for p in out.split("\0") if p]
    return [(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
