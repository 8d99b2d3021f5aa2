#!/bin/bash
# Sealed verifier: looplab's trusted GPU driver (looplab.measure.gpu) checks /app/kernel.py against the
# PyTorch reference in /tests/spec.py on inputs drawn now, then times it against the pristine
# /orig/kernel.py interleaved on this trial's GPU. The kernels run in jailed worker processes; the
# times are the driver's clock, never a number the kernel's process reports.
set -u
mkdir -p /logs/verifier
python3 -m looplab.measure.gpu verify --decl /tests/gpu.toml --out /logs/verifier/reward.json
if [ ! -s /logs/verifier/reward.json ]; then
    echo '{"correct": false, "speedup": 0.0, "reason": "the GPU driver wrote no result"}' > /logs/verifier/reward.json
fi
exit 0
