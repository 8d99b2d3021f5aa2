#!/bin/bash
# Local dev check of the hash_join task: builds /app/join.c, compares its output
# with the pristine baseline (/orig) on small generated and file inputs, then
# times both once on the verifier's timing size.
#   bash /app/check.sh          correctness + one timing run of each
#   bash /app/check.sh --fast   correctness only
set -eu
W=/tmp/hash_join_check
mkdir -p "$W"
make -s -C /app
make -s -f /orig/Makefile SRC=/orig BUILD="$W/base"
cand=/app/build/join_bench
base="$W/base/join_bench"
cpu_s() { # CPU seconds (user + sys) of one run of "$@", as the verifier counts them
    python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.ru_utime + r.ru_stime)' "$@"
}
fails=0
compare() { # args...: run both, compare stdout
    local want got
    want=$("$base" "$@")
    if ! got=$(timeout 60 "$cand" "$@"); then
        echo "FAIL ($*): join_bench exited with an error"; fails=$((fails + 1)); return
    fi
    if [ "$got" != "$want" ]; then
        echo "FAIL ($*): expected '$(echo $want)', got '$(echo $got)'"; fails=$((fails + 1))
    else
        echo "ok   ($*)"
    fi
}
compare 11 0 1000 10 100
compare 12 1000 0 10 100
compare 13 5000 200000 2500 40000
compare 14 300 50000 3 6
compare 15 20000 500000 10000 10000
compare 16 100000 2000000 50000 800000
python3 /app/make_tables.py "$W/tables.bin" 17 3000 100000
compare --file "$W/tables.bin"
if [ "$fails" -ne 0 ]; then
    echo "check: $fails case(s) failed"; exit 1
fi
echo "check: all cases match the baseline"
if [ "${1:-}" = "--fast" ]; then exit 0; fi
T="$((RANDOM * 32768 + RANDOM)) 1000000 40000000 500000 8000000"
echo "timing one run each at the verifier's size: join_bench $T"
b=$(cpu_s "$base" $T); c=$(cpu_s "$cand" $T)
python3 -c "b=$b; c=$c; print(f'CPU time: baseline {b:.3f} s, yours {c:.3f} s, speedup {b/c:.2f}x')"
