#!/bin/bash
# The commands the paired timer runs (pristine, in /orig; see task.toml [looplab.paired]).
#   run_timed.sh build   check that the verifier left the timing input
#   run_timed.sh base    one timed run of the pristine baseline on the timing input
#   run_timed.sh cand    one timed run of the candidate on the timing input
# Both sides run the same way: inside a read-only nested sandbox (when the verifier
# found one available, jail.ok) whose processes all die with it and that cannot fork
# (tests/verify.py explains), so a timed run can change nothing the next run or the
# verifier reads and its CPU time is all of its work. A candidate run whose answer
# differs from the one the verifier checked exits 1.
set -u
W=/tmp/bm25_search
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
    [ -s "$W/timing.args" ] && [ -s "$W/timing.digest" ]
    ;;
base)
    jail python3 /orig/bench.py /orig $(cat "$W/timing.args") >/dev/null
    ;;
cand)
    out=$(jail python3 /orig/bench.py /app $(cat "$W/timing.args")) || exit 1
    [ "$(echo "$out" | sed -n 's/^digest //p')" == "$(cat "$W/timing.digest")" ] ||
        { echo "run_timed: the candidate's answer changed" >&2; exit 1; }
    ;;
*)
    echo "usage: run_timed.sh build|base|cand" >&2; exit 2
    ;;
esac
