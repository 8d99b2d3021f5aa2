#!/bin/bash
# Reference solution: install the wheel-based primes.c.
set -eu
cp "$(cd "$(dirname "$0")" && pwd)/primes.c" /app/primes.c
