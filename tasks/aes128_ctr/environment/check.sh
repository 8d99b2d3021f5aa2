#!/bin/bash
# Local dev check of the aes128_ctr task: builds /app/aes.c, compares its output
# with the pristine baseline (/orig) on generated buffers and on files whose IVs
# make the 128-bit counter carry, then times both once on the verifier's size.
#   bash /app/check.sh          correctness + one timing run of each
#   bash /app/check.sh --fast   correctness only
set -eu
W=/tmp/aes128_ctr_check
mkdir -p "$W"
make -s -C /app
make -s -f /orig/Makefile SRC=/orig BUILD="$W/base"
cand=/app/build/aes_bench
base="$W/base/aes_bench"
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
        echo "FAIL ($*): aes_bench exited with an error"; fails=$((fails + 1)); return
    fi
    if [ "$got" != "$want" ]; then
        echo "FAIL ($*): expected '$(echo $want)', got '$(echo $got)'"; fails=$((fails + 1))
    else
        echo "ok   ($*)"
    fi
}
for len in 0 1 15 16 17 129 1000003; do compare 1$len $len; done
for iv in 000102030405060708090a0b0c0d0e0f ffffffffffffffffffffffffffffffff 0000000000000000fffffffffffffff9 00000000000000000000fffffffffffe; do
    python3 -c 'import os,sys; sys.stdout.buffer.write(os.urandom(16) + bytes.fromhex(sys.argv[1]) + os.urandom(4099))' "$iv" >"$W/in.bin"
    "$base" --file "$W/in.bin" "$W/want.bin"
    if timeout 60 "$cand" --file "$W/in.bin" "$W/got.bin" && cmp -s "$W/want.bin" "$W/got.bin"; then
        echo "ok   (--file, iv $iv)"
    else
        echo "FAIL (--file, iv $iv): ciphertext differs from the baseline's"; fails=$((fails + 1))
    fi
done
if [ "$fails" -ne 0 ]; then
    echo "check: $fails case(s) failed"; exit 1
fi
echo "check: all cases match the baseline"
if [ "${1:-}" = "--fast" ]; then exit 0; fi
T="$((RANDOM * 32768 + RANDOM)) 100000007"
echo "timing one run each at the verifier's size: aes_bench $T"
b=$(cpu_s "$base" $T); c=$(cpu_s "$cand" $T)
python3 -c "b=$b; c=$c; print(f'CPU time: baseline {b:.3f} s, yours {c:.3f} s, speedup {b/c:.2f}x')"
