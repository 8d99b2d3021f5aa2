#!/bin/bash
# objcheck.sh OBJ SYMBOL... -- part of the fixed harness (not editable).
# Rejects an object file that defines external symbols other than the listed API,
# or that contains code run before main (constructors, init arrays, ifunc resolvers).
set -u
obj=$1; shift
bad=0
for sym in $(nm -g --defined-only --format=posix "$obj" | awk '{print $1}'); do
    ok=0
    for allowed in "$@"; do [ "$sym" = "$allowed" ] && ok=1; done
    if [ $ok = 0 ]; then
        echo "objcheck: $obj defines external symbol '$sym'; only '$*' may be external (make helpers static)" >&2
        bad=1
    fi
done
if readelf -SW "$obj" | grep -Eq 'init_array|fini_array|\.ctors|\.dtors'; then
    echo "objcheck: $obj has constructors/destructors (init/fini arrays); code may only run when the driver calls it" >&2
    bad=1
fi
if readelf -sW "$obj" | grep -q 'IFUNC'; then
    echo "objcheck: $obj uses ifunc (e.g. target_clones); dispatch at call time instead (__builtin_cpu_supports)" >&2
    bad=1
fi
exit $bad
