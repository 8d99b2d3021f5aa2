#!/bin/bash
# The commands the paired timer runs (pristine, in /orig; see task.toml [looplab.paired]).
#   run_timed.sh build   check that the verifier left both programs and the timing input
#   run_timed.sh base    one timed run of the pristine baseline on the timing input
#   run_timed.sh cand    one timed run of the candidate on the timing input
# Both sides run the same way: inside a read-only nested sandbox (when the verifier
# found one available, jail.ok) whose processes all die with it and that cannot fork
# (tests/verify.py explains), so a timed run can change nothing the next run or the
# verifier reads and its CPU time is all of its work. A run whose output differs from
# the verified answer exits 1.
set -u
W=/tmp/levenshtein_batch
jail() {
    if [ -f "$W/jail.ok" ]; then
        bwrap --ro-bind / / --dev /dev --proc /proc --unshare-pid --as-pid-1 --die-with-parent --new-session \
            --seccomp 9 -- "$@" 9<"$W/nofork.bpf"
    else
        "$@"
    fi
}
case "${1:-}" in
build)
    [ -x "$W/base/lev_bench" ] && [ -x "$W/cand/lev_bench" ] && [ -s "$W/timing.args" ] && [ -s "$W/timing.expected" ]
    ;;
base | cand)
    out=$(jail "$W/$1/lev_bench" $(cat "$W/timing.args")) || exit 1
    [ "$out" == "$(cat "$W/timing.expected")" ] || { echo "run_timed: wrong output from $1" >&2; exit 1; }
    ;;
*)
    echo "usage: run_timed.sh build|base|cand" >&2; exit 2
    ;;
esac
