#!/bin/bash
# Local dev check: run /app/train.py the way the verifier does (one thread, its CPU time bounded at
# TRAIN_BUDGET_S seconds: RLIMIT_CPU here; the verifier stops its whole jail), then score
# /app/out/model.pt on /data/valid.txt with the evaluator the verifier uses. SKIP_TRAIN=1 only evaluates.
set -u
budget=${TRAIN_BUDGET_S:-60}
if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  rm -rf /app/out && mkdir -p /app/out
  (ulimit -t "$budget" && cd /app && OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
    TRAIN_BUDGET_S="$budget" LM_OUT=/app/out/model.pt LM_DATA=/data exec python3 /app/train.py)
fi
python3 /app/lmeval.py --model /app/out/model.pt --text /data/valid.txt "$@"
