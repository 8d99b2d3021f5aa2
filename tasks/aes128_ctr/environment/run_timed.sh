#!/bin/bash
# The commands the paired timer runs (pristine, in /orig; see task.toml [looplab.paired]).
#   run_timed.sh build   build the baseline and the candidate (done by the verifier already)
#   run_timed.sh base    one timed run of the pristine baseline on the timing input
#   run_timed.sh cand    one timed run of the candidate on the timing input
# A run whose output differs from the expected answer exits 1.
set -u
W=/tmp/aes128_ctr
case "${1:-}" in
build)
    make -s -f /orig/Makefile SRC=/orig BUILD="$W/base" && make -s -f /orig/Makefile SRC=/app BUILD="$W/cand"
    ;;
base | cand)
    out=$("$W/$1/aes_bench" $(cat "$W/timing.args")) || exit 1
    [ "$out" == "$(cat "$W/timing.expected")" ] || { echo "run_timed: wrong output from $1" >&2; exit 1; }
    ;;
*)
    echo "usage: run_timed.sh build|base|cand" >&2; exit 2
    ;;
esac
