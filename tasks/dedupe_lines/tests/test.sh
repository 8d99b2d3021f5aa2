#!/bin/bash
# Plain-Harbor verifier of dedupe_lines. Under looplab this is not run: the harness's candidate
# runner follows tests/run.toml itself, every run in a jail of its own. Here (the container is the
# isolation) tests/harbor_run.py follows the same declaration; s_ref = 0.436 / 0.0287 (task.toml).
# On any failure it writes nulls, as AutoLab's verifiers do.
set -u
mkdir -p /logs/verifier
python3 /tests/harbor_run.py 15.2
python3 - <<'PY'
import json
p = "/logs/verifier/reward.json"
d = json.load(open(p))
if not d.get("correct"):
    json.dump({"reward": None, "speedup": None, "time_s": None, "correct": False, "error": d.get("reason")}, open(p, "w"))
print(open(p).read())
PY
