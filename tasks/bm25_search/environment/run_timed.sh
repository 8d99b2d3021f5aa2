#!/bin/bash
# The commands the paired timer runs (pristine, in /orig; see task.toml [looplab.paired]).
#   run_timed.sh build   nothing to build (Python); checks the timing input exists
#   run_timed.sh base    one timed run of the pristine baseline on the timing input
#   run_timed.sh cand    one timed run of the candidate on the timing input
# A candidate run whose answer differs from the one the verifier checked exits 1.
set -u
W=/tmp/bm25_search
case "${1:-}" in
build)
    [ -s "$W/timing.args" ]
    ;;
base)
    python3 /orig/bench.py /orig $(cat "$W/timing.args") >/dev/null
    ;;
cand)
    out=$(python3 /orig/bench.py /app $(cat "$W/timing.args")) || exit 1
    [ "$(echo "$out" | sed -n 's/^digest //p')" == "$(cat "$W/timing.digest")" ] ||
        { echo "run_timed: the candidate's answer changed" >&2; exit 1; }
    ;;
*)
    echo "usage: run_timed.sh build|base|cand" >&2; exit 2
    ;;
esac
