#!/bin/bash
# Sealed verifier for tour_puzzle: run tour.py, check the tour on the pristine instance, score linearly.
set -u
mkdir -p /logs/verifier
python3 /tests/cities.py /tmp/cities.txt
timeout 60 python3 /app/tour.py > /tmp/tour.txt 2>/tmp/tour.err
rc=$?
python3 /tests/score.py "$rc" /tmp/cities.txt /tmp/tour.txt > /logs/verifier/reward.json
cat /logs/verifier/reward.json
