#!/bin/bash
# Plain-Harbor verifier of aes128_ctr. Under looplab this is not run: the harness's candidate
# runner follows tests/run.toml itself, every run in a jail of its own. Here (the container is
# the isolation) tests/harbor_run.py follows the same declaration; s_ref = 2.15 / 0.16.
set -u
mkdir -p /logs/verifier
python3 /tests/harbor_run.py 13.44
