#!/bin/bash
# Local dev check: run /app/train.py the way the verifier does (jailed, killed when its process tree has
# used TRAIN_BUDGET_S CPU seconds or after 240 s of wall clock), then score /app/out/model.pt on
# /data/valid.txt with the evaluator the verifier uses. SKIP_TRAIN=1 only evaluates the saved model.
set -u
budget=${TRAIN_BUDGET_S:-60}
if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  rm -rf /app/out && mkdir -p /app/out
  python3 /app/jail.py --cwd /app --rw /app/out --wall 240 --cpu "$budget" \
    --env TRAIN_BUDGET_S="$budget" --env LM_OUT=/app/out/model.pt --env LM_DATA=/data -- python3 /app/train.py
fi
python3 /app/lmeval.py --model /app/out/model.pt --text /data/valid.txt "$@"
