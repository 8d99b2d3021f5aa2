#!/usr/bin/env bash
# Run AutoLab v1.1's CPU tasks (the shipped overlays: src/looplab/overlays/autolab) from a checkout of
# its public repository (github.com/autolabhq/autolab; never vendored here) with oracle and nop, on the
# Debian-built stand-in images (tests/image_helpers.py) in a local registry, sealed through the overlays,
# and write the table of published and rebased rewards to docs/autolab.md.
#
#   bash scripts/autolab.sh PATH [TASK...]     PATH: the checkout (holds tasks/); TASKs: a subset
#
# Each task is its own job (AUTOLAB_JOB-<task>, resumable: a re-run skips finished trials); the table is
# rewritten after each task from whatever trials exist, listing the tasks not run. Tasks run in a cheap-first order.
# Settings: AUTOLAB_PORT (registry port, 5066), AUTOLAB_JOBS (jobs folder), AUTOLAB_TIMEOUT_MULTIPLIER (1).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: scripts/autolab.sh PATH [TASK...]" >&2; exit 2; }
CHECKOUT=$(realpath "$1"); shift
[ -d "$CHECKOUT/tasks" ] || { echo "autolab.sh: $CHECKOUT/tasks: no such folder (not an AutoLab checkout)" >&2; exit 2; }
PY=${PYTHON:-.venv/bin/python}
PORT=${AUTOLAB_PORT:-5066}
JOBS=${AUTOLAB_JOBS:-jobs}
JOB=${AUTOLAB_JOB:-autolab}
# cheap first: count metrics (C/Python), then the timed C tasks, Python, Go, Rust, the torch one last
ORDER="stack_machine_golf toy_isa_opt vliw_scheduler fredkin_sort_network adversarial_splay discover_sorting
radix_sort sha256_throughput aes128_ctr gaussian_blur hash_join levenshtein_distance flash_attention
bvh_raytracer agent_tool_routing smallest_game_player safety_router adaptive_compression bm25_search_go
concurrent_kv_wal regex_engine fft_rust sstable_compaction_rs z_order_range_scan resnet_bit_flip"
TASKS=("$@")
[ ${#TASKS[@]} -gt 0 ] || read -r -a TASKS <<< "$(echo $ORDER)"
for t in "${TASKS[@]}"; do
  [ -f "src/looplab/overlays/autolab/$t.toml" ] || { echo "autolab.sh: $t: no shipped overlay" >&2; exit 2; }
  [ -d "$CHECKOUT/tasks/$t" ] || { echo "autolab.sh: $CHECKOUT/tasks/$t: missing" >&2; exit 2; }
done

# the tasks whose Dockerfiles pip-install torch from download.pytorch.org (unreachable here): their
# python:3.11-slim is a stand-in carrying the same pins from PyPI (tests/image_helpers.py), so that
# pip finds them satisfied; those stand-ins (GBs) are built only when such a task is asked for
declare -A TORCH=([resnet_bit_flip]=python-torch220:3.11-torch2.2.0 [smallest_game_player]=python-torch222:3.11-torch2.2.2)
IMAGES=debian,python,go,rust,ubuntu
for t in "${TASKS[@]}"; do [ -z "${TORCH[$t]:-}" ] || IMAGES+=",${TORCH[$t]%%:*}"; done

# the stand-in images in Debian's docker-registry on 127.0.0.1 (built once, cached in LOOPLAB_TEST_IMAGES)
LOG=$(mktemp)
"$PY" tests/image_helpers.py --port "$PORT" --images "$IMAGES" >"$LOG" 2>&1 &
REG_PID=$!
trap 'kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1800); do
  grep -q "ready" "$LOG" && break
  kill -0 "$REG_PID" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 1
done
grep -q "ready" "$LOG" || { echo "autolab.sh: the stand-in registry did not come up" >&2; exit 1; }
R=127.0.0.1:$PORT
# refresh the store's idea of each stand-in (a rebuilt stand-in has a new digest; FROM never re-asks)
for img in python:3.11-bookworm ubuntu:22.04 golang:trixie rust:trixie; do
  "$PY" -m looplab images pull "$R/$img" >/dev/null
done
for t in "${TASKS[@]}"; do [ -z "${TORCH[$t]:-}" ] || "$PY" -m looplab images pull "$R/python:${TORCH[$t]#*:}" >/dev/null; done
MAPS=(--image-map "python=$R/python:3.11-bookworm" --image-map "ubuntu:22.04=$R/ubuntu:22.04"
      --image-map "golang=$R/golang:trixie" --image-map "rust=$R/rust:trixie")

# one job per task, so each task's table row is there as soon as its two trials are (resumable)
RC=0
for t in "${TASKS[@]}"; do
  EXTRA=()  # a torch task's python:3.11-slim (an exact FROM wins over the repository-wide python=)
  [ -z "${TORCH[$t]:-}" ] || EXTRA=(--image-map "python:3.11-slim=$R/python:${TORCH[$t]#*:}")
  "$PY" -m looplab run -p "$CHECKOUT/tasks/$t" -a oracle -a nop --overlays autolab "${MAPS[@]}" "${EXTRA[@]}" \
    --jobs-dir "$JOBS" --job-name "$JOB-$t" --timeout-multiplier "${AUTOLAB_TIMEOUT_MULTIPLIER:-1}" || RC=1
  "$PY" scripts/autolab_table.py "$JOBS" docs/autolab.md --job "$JOB" --order "$(echo $ORDER)" \
    --maps "${MAPS[*]}" --checkout "$CHECKOUT"
done
exit $RC
