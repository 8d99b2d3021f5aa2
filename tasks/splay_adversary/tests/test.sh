#!/bin/bash
# Sealed verifier of splay_adversary: runs /app/gen.py under guard and counts the rotations of the
# pristine splay simulator in /tests on the sequence it prints. exec: no shell stays behind that
# the candidate could tamper with.
set -u
mkdir -p /logs/verifier
exec python3 /tests/verify.py --app /app --out /logs/verifier
