#!/bin/bash
# Local dev check of the bm25_search task: runs /app/search.py and the pristine
# baseline (/orig/search.py) on a few small corpora and compares their answers
# (same documents, scores within 1e-9 relative), then times both once on the
# verifier's timing size.
#   bash /app/check.sh          correctness + one timing run of each
#   bash /app/check.sh --fast   correctness only
set -eu
W=/tmp/bm25_check
mkdir -p "$W"
cpu_s() { # CPU seconds (user + sys) of one run of "$@", as the verifier counts them
    python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.ru_utime + r.ru_stime)' "$@"
}
fails=0
for spec in "11 --docs 300 --vocab 2000 --queries 100" "12 --docs 2000 --vocab 50000 --queries 100 --k 1" \
            "13 --docs 1000 --vocab 300 --queries 60 --k 50"; do
    python3 /orig/bench.py /orig $spec --out "$W/want.json" >/dev/null
    if ! timeout 120 python3 /orig/bench.py /app $spec --out "$W/got.json" >/dev/null; then
        echo "FAIL ($spec): bench.py exited with an error"; fails=$((fails + 1)); continue
    fi
    if python3 - "$W/want.json" "$W/got.json" <<'PY'
import json, math, sys
want, got = (json.load(open(p)) for p in sys.argv[1:3])
ok = len(want) == len(got) and all(
    len(w) == len(g) and all(a[0] == b[0] and math.isclose(a[1], b[1], rel_tol=1e-9, abs_tol=1e-12) for a, b in zip(w, g))
    for w, g in zip(want, got)
)
sys.exit(0 if ok else 1)
PY
    then echo "ok   ($spec)"; else echo "FAIL ($spec): answers differ from the baseline's"; fails=$((fails + 1)); fi
done
if [ "$fails" -ne 0 ]; then
    echo "check: $fails case(s) failed"; exit 1
fi
echo "check: all cases match the baseline"
if [ "${1:-}" = "--fast" ]; then exit 0; fi
T="$((RANDOM * 32768 + RANDOM))"
echo "timing one run each at the verifier's size: bench.py DIR $T"
b=$(cpu_s python3 /orig/bench.py /orig $T); c=$(cpu_s python3 /orig/bench.py /app $T)
python3 -c "b=$b; c=$c; print(f'CPU time: baseline {b:.3f} s, yours {c:.3f} s, speedup {b/c:.2f}x')"
