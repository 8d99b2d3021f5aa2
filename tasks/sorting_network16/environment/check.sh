#!/bin/bash
# Local check: does /app/network.txt sort every input, and how many comparators does it use?
# (The verifier runs its own pristine copy of this checker on your network.txt.)
exec python3 /app/checknet.py "${1:-/app/network.txt}"
