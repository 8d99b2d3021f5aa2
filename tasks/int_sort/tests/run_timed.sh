#!/bin/bash
# Every run of the agent's code goes through this script (pristine, in /tests, read-only in the
# verifier): its build, the correctness cases and each timed run. tests/verify.py built both
# programs under /tmp/lb/{base,cand} and wrote the timing seed to /tmp/lb/timing.seed.
#   run_timed.sh jail [--rw DIR] CMD...   run CMD in the nested jail (DIR writable in it)
#   run_timed.sh build                    check that verify.py left both programs and the seed
#   run_timed.sh base|cand                one timed run on the timing input: the pristine driver
#                                         re-checks the sort and prints {"seconds": T} last
# The jail: the whole file system read-only, a private empty /tmp (but for the two build
# folders, read-only, and DIR), /logs and /tests hidden, no network, its own PID namespace
# whose processes all die with it (the program is its PID 1). So nothing the agent wrote can
# change the reward, the timing scripts (this file), the seed or the baseline, or leave a
# process behind; only the pristine driver's parent process prints the time the harness reads.
# Without the jail (jail.ok missing) it runs only outside looplab (plain Harbor).
set -u
W=/tmp/lb
N_TIMING=25000000
jail() {
    local rw=()
    if [ "${1:-}" = --rw ]; then
        rw=(--bind "$2" "$2")
        shift 2
    fi
    if [ -f "$W/jail.ok" ]; then
        exec bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp \
            --ro-bind "$W/base" "$W/base" --ro-bind "$W/cand" "$W/cand" "${rw[@]}" \
            --tmpfs /logs --tmpfs /tests --unshare-all --as-pid-1 --die-with-parent --new-session -- "$@"
    elif [ "${LOOPLAB_VERIFIER:-}" != 1 ]; then
        exec "$@"
    else
        echo "run_timed: no nested jail" >&2
        return 1
    fi
}
case "${1:-}" in
jail)
    shift
    jail "$@"
    ;;
build)
    [ -x "$W/base/prog" ] && [ -x "$W/cand/prog" ] && [ -s "$W/timing.seed" ]
    ;;
base | cand)
    jail "$W/$1/prog" bench "$(<"$W/timing.seed")" "$N_TIMING"
    ;;
*)
    echo "usage: run_timed.sh jail [--rw DIR] CMD...|build|base|cand" >&2
    exit 2
    ;;
esac
