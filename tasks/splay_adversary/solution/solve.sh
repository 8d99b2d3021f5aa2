#!/bin/bash
# Reference solution: search an adversarial sequence now (greedy deepest node with a one-step
# depth lookahead, ~1 minute), then write a gen.py that prints it instantly (embedded, compressed).
set -euo pipefail
python3 /solution/search.py > /tmp/sequence.txt
python3 - <<'PY'
import base64, zlib
seq = open("/tmp/sequence.txt").read().split()
blob = base64.b64encode(zlib.compress(" ".join(seq).encode(), 9)).decode()
lines = [blob[i:i + 100] for i in range(0, len(blob), 100)]
src = [
    "#!/usr/bin/env python3",
    '"""Adversarial access sequence for the splay tree (found by solution/search.py: greedy',
    'deepest-node access with a one-step lookahead on the mean depth), embedded compressed."""',
    "import base64",
    "import zlib",
    "",
    "BLOB = (",
    *[f'    "{x}"' for x in lines],
    ")",
    'print("\\n".join(zlib.decompress(base64.b64decode(BLOB)).decode().split()))',
]
open("/app/gen.py", "w").write("\n".join(src) + "\n")
PY
bash /app/check.sh
