#!/bin/bash
# Every run of the agent's program goes through this script (pristine, in /tests, read-only in
# the verifier). test.sh built both programs into /tmp/prime_count/bin and drew the timed n.
#   run_timed.sh jail CMD...   run CMD in the nested jail (below)
#   run_timed.sh build         check that test.sh left both programs and the timing input
#   run_timed.sh base|cand     one timed run on the timing input: exit 1 unless it prints the
#                              count test.sh computed independently (tests/reference_count.py)
# The jail: the whole file system read-only, a private empty /tmp (but for the two programs,
# read-only), /logs and /tests hidden, no network, its own PID namespace whose processes all
# die with it (the program is its PID 1), and a seccomp filter that refuses fork/vfork/clone
# of new processes (tests/nofork_bpf.py). So the program can write nothing the reward, the
# timing input or the baseline depend on, read neither the expected counts nor the verifier,
# and leave nothing running. Without the jail (jail.ok missing) it runs only outside looplab.
set -u
W=/tmp/prime_count
jail() {
    if [ -f "$W/jail.ok" ]; then
        exec bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --ro-bind "$W/bin" "$W/bin" \
            --tmpfs /logs --tmpfs /tests --unshare-all --as-pid-1 --die-with-parent --new-session \
            --seccomp 9 -- "$@" 9<"$W/nofork.bpf"
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
    [ -x "$W/bin/base" ] && [ -x "$W/bin/cand" ] && [ -s "$W/timing.n" ] && [ -s "$W/timing.expected" ]
    ;;
base | cand)
    out=$(jail "$W/bin/$1" "$(<"$W/timing.n")") || exit 1
    [ "$out" == "$(<"$W/timing.expected")" ] || { echo "run_timed: wrong count from $1" >&2; exit 1; }
    ;;
*)
    echo "usage: run_timed.sh jail CMD...|build|base|cand" >&2
    exit 2
    ;;
esac
