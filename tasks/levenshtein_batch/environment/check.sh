#!/bin/bash
# Local dev check of the levenshtein_batch task: builds /app/lev.c, compares its
# output with the pristine baseline (/orig) on small generated and file inputs,
# then times both once on the verifier's timing size.
#   bash /app/check.sh          correctness + one timing run of each
#   bash /app/check.sh --fast   correctness only
set -eu
W=/tmp/levenshtein_check
mkdir -p "$W"
make -s -C /app
make -s -f /orig/Makefile SRC=/orig BUILD="$W/base"
cand=/app/build/lev_bench
base="$W/base/lev_bench"
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
        echo "FAIL ($*): lev_bench exited with an error"; fails=$((fails + 1)); return
    fi
    if [ "$got" != "$want" ]; then
        echo "FAIL ($*): output differs from the baseline's"; fails=$((fails + 1))
    else
        echo "ok   ($*)"
    fi
}
compare 11 0 0 10
compare 12 1000 0 8
compare 13 2000 16 256
compare 14 300 60 70
compare 15 100 500 1500
python3 /app/make_pairs.py "$W/pairs.bin" 16 2000
compare --file "$W/pairs.bin"
if [ "$fails" -ne 0 ]; then
    echo "check: $fails case(s) failed"; exit 1
fi
echo "check: all cases match the baseline"
if [ "${1:-}" = "--fast" ]; then exit 0; fi
T="$((RANDOM * 32768 + RANDOM)) 100000 16 256"
echo "timing one run each at the verifier's size: lev_bench $T"
b=$(cpu_s "$base" $T); c=$(cpu_s "$cand" $T)
python3 -c "b=$b; c=$c; print(f'CPU time: baseline {b:.3f} s, yours {c:.3f} s, speedup {b/c:.2f}x')"
