"""The pristine driver every run of dedupe() goes through: python3 run.py MODULE_DIR IN OUT.

Reads one line per input line, calls dedupe() from MODULE_DIR/dedupe.py on them and
writes the result, one line each. The verifier checks OUT in a separate process.
"""
import sys

sys.path.insert(0, sys.argv[1])
from dedupe import dedupe  # noqa: E402

with open(sys.argv[2], encoding="utf-8") as fh:
    lines = fh.read().split("\n")
out = dedupe(lines)
with open(sys.argv[3], "w", encoding="utf-8") as fh:
    fh.write("\n".join(out))
