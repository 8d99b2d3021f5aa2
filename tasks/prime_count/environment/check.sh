#!/bin/bash
# Local dev check: correctness on a few n, then one timing of n = 2,000,000.
set -e
make -s -C /app
expect=(0 0 0 1 2 4 25 168 1229 78498)
ns=(0 1 2 3 4 10 100 1000 10000 1000000)
for i in "${!ns[@]}"; do
  got=$(/app/primes "${ns[$i]}")
  [ "$got" = "${expect[$i]}" ] || { echo "WRONG: n=${ns[$i]} expected ${expect[$i]} got $got"; exit 1; }
done
echo "correct on ${#ns[@]} values"
start=$(date +%s.%N); /app/primes 2000000 >/dev/null; end=$(date +%s.%N)
python3 -c "print(f'time for n=2,000,000: {$end-$start:.3f} s')"
