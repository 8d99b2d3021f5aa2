#!/bin/bash
# The commands the paired timer runs (pristine, in /orig; see task.toml [looplab.paired]).
#   run_timed.sh build       check that the verifier left both programs and the timing arguments
#   run_timed.sh base|cand   one timed run: /tmp/lb/SIDE/prog bench ARGS, ARGS from /tmp/lb/timing.args
# Both sides run the same way: inside a read-only nested sandbox (when the verifier found
# one available, jail.ok) in their own PID namespace, whose processes all die with it, so a
# timed run can change nothing the next run or the verifier reads. The time is the last
# line of the pristine driver's stdout; a run whose output is wrong exits non-zero.
set -u
W=/tmp/lb
jail() {
    if [ -f "$W/jail.ok" ]; then
        bwrap --ro-bind / / --dev /dev --proc /proc --unshare-pid --as-pid-1 --die-with-parent --new-session -- "$@"
    else
        "$@"
    fi
}
case "${1:-}" in
build)
    [ -x "$W/base/prog" ] && [ -x "$W/cand/prog" ] && [ -s "$W/timing.args" ]
    ;;
base | cand)
    jail "$W/$1/prog" bench $(cat "$W/timing.args")
    ;;
*)
    echo "usage: run_timed.sh build|base|cand" >&2; exit 2
    ;;
esac
