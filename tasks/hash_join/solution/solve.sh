#!/bin/bash
# Reference solution of hash_join: install the optimized join.c into /app.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
cp "$HERE/join.c" /app/join.c
make -s -C /app
