#!/bin/bash
cat > /app/dedupe.py <<'PY'
"""dedupe(lines): first occurrences in order, in linear time (dict keeps insertion order)."""


def dedupe(lines):
    return list(dict.fromkeys(lines))
PY
