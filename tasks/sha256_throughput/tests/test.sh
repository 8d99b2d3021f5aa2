#!/bin/bash
# Plain-Harbor verifier of sha256_throughput. Under looplab this is not run: the harness's
# candidate runner follows tests/run.toml itself, every run in a jail of its own. Here (the
# container is the isolation) tests/harbor_run.py follows the same declaration;
# s_ref = 3.4 / 0.66 (task.toml's constants).
set -u
mkdir -p /logs/verifier
python3 /tests/harbor_run.py 5.15
