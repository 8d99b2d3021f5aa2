#!/bin/bash
# Plain-Harbor verifier of bm25_search. Under looplab this is not run: the harness's candidate
# runner follows tests/run.toml itself, every run in a jail of its own. Here (the container is
# the isolation) tests/harbor_run.py follows the same declaration; s_ref = 2.78 / 0.28.
set -u
mkdir -p /logs/verifier
python3 /tests/harbor_run.py 9.93
