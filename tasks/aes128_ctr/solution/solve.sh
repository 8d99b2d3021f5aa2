#!/bin/bash
# Reference solution of aes128_ctr: install the optimized aes.c into /app.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
cp "$HERE/aes.c" /app/aes.c
make -s -C /app
