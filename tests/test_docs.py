"""The docs stay true: the CLI reference is regenerated from the CLI itself."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_cli_reference_is_up_to_date() -> None:
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "cli_docs.py"), "--check"], check=False)
    assert r.returncode == 0, "docs/cli.md is stale: run .venv/bin/python scripts/cli_docs.py"
