#!/bin/bash
# The GPU check (issue 17) in one command, for a GPU machine that reaches no package registry.
#
#   bash scripts/gpu_check.sh prepare   where PyPI and Debian are reachable: build looplab's wheel, download
#                                       the wheels it needs and bubblewrap's .deb into $WHEELS
#   bash scripts/gpu_check.sh           on the GPU machine (root, PyTorch/Triton/nvcc there): install looplab
#                                       from $WHEELS into a venv that sees the system's PyTorch, unpack
#                                       bubblewrap if the machine has none, run the GPU tests (passthrough,
#                                       scheduling, timing) and oracle + nop on every GPU task, and write the
#                                       figures (rewards, verification time, timing CV) to $RESULTS.
#
# WHEELS  = ${LOOPLAB_GPU_WHEELS:-<repo>/.gpu_wheels}   (carried with the tree; ignored by git)
# RESULTS = ${OUT:-<repo>/bench/results}/gpu_check      (gpu_check.json, catalog_gpu.md, steps.log, jobs/)
# Every step has its own time limit; the whole run is meant to take under 8 minutes on one H100/H200.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WHEELS=${LOOPLAB_GPU_WHEELS:-$REPO/.gpu_wheels}
PYVERS=${LOOPLAB_GPU_PYVERS:-"3.11 3.12 3.13"}
DEPS="typer>=0.12 rich>=13 pydantic>=2.6 pyyaml>=6 anthropic>=0.40 openai>=1.50 pytest>=8 pytest-timeout>=2.3"

die() { echo "gpu_check: $*" >&2; exit 1; }

prepare() {
    mkdir -p "$WHEELS"
    local pip=${PIP:-python3 -m pip}
    $pip wheel --no-deps -q -w "$WHEELS" "$REPO" || die "could not build looplab's wheel"
    for v in $PYVERS; do
        # shellcheck disable=SC2086
        $pip download -q -d "$WHEELS" --only-binary=:all: --python-version "$v" --implementation cp \
            --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
            $DEPS || die "could not download the wheels for Python $v"
    done
    rm -f "$WHEELS"/numpy-*.whl  # the GPU machine's PyTorch brings its own numpy
    (cd "$WHEELS" && apt-get download bubblewrap) || die "could not download bubblewrap's .deb (apt-get download)"
    echo "gpu_check: $(find "$WHEELS" -type f | wc -l) files, $(du -sh "$WHEELS" | cut -f1) in $WHEELS"
}

if [ "${1:-}" = "prepare" ]; then
    prepare
    exit 0
fi

RESULTS=${OUT:-$REPO/bench/results}/gpu_check
mkdir -p "$RESULTS"
LOG=$RESULTS/steps.log
: >"$LOG"
VENV=${LOOPLAB_GPU_VENV:-/opt/looplab-gpucheck}
export LOOPLAB_CACHE_DIR=${LOOPLAB_CACHE_DIR:-/var/tmp/looplab-gpucheck}
FAILED=0

# step NAME SECONDS CMD...: run one step under its own time limit, log it, remember a failure
step() {
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    echo "== $name (limit ${limit}s)" | tee -a "$LOG"
    # a step is a shell function: run it in a child bash so that timeout can stop it
    timeout --kill-after=10 "$limit" bash -c "$*" >"$RESULTS/step-$name.log" 2>&1
    local rc=$?
    cat "$RESULTS/step-$name.log" >>"$LOG"
    local took=$((SECONDS - t0))
    if [ $rc -eq 0 ]; then
        echo "   ok in ${took}s" | tee -a "$LOG"
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        echo "   TIMED OUT after ${took}s (limit ${limit}s): see $LOG" | tee -a "$LOG"
        FAILED=1
    else
        echo "   FAILED (exit $rc) after ${took}s: see $LOG" | tee -a "$LOG"
        tail -n 15 "$RESULTS/step-$name.log" | sed 's/^/   | /'
        FAILED=1
    fi
    return $rc
}

preflight() {
    command -v nvidia-smi >/dev/null || { echo "no nvidia-smi: this is not a GPU machine"; return 1; }
    nvidia-smi -L || return 1
    python3 - <<'EOT' || return 1
import sys
if sys.version_info < (3, 11):
    sys.exit(f"looplab needs Python >= 3.11; this machine's python3 is {sys.version.split()[0]}")
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if not torch.cuda.is_available():
    sys.exit("torch sees no CUDA device")
print("device", torch.cuda.get_device_name(0))
try:
    import triton
    print("triton", triton.__version__)
except ImportError:
    sys.exit("triton is not installed (the GPU-kernel tasks are written in Triton)")
EOT
    ls "$WHEELS"/looplab-*.whl >/dev/null 2>&1 || { echo "no looplab wheel in $WHEELS: run 'bash scripts/gpu_check.sh prepare' where PyPI is reachable and carry $WHEELS"; return 1; }
    local newer
    newer=$(find "$REPO/src" -name '*.py' -newer "$(ls -t "$WHEELS"/looplab-*.whl | head -1)" | head -3)
    [ -z "$newer" ] || { echo "the looplab wheel in $WHEELS is older than $newer: run 'bash scripts/gpu_check.sh prepare' again"; return 1; }
}

install() {
    python3 -m venv --system-site-packages "$VENV" || return 1
    chmod -R o+rX "$VENV"
    "$VENV/bin/pip" install -q --no-index --find-links "$WHEELS" --no-deps --force-reinstall "$WHEELS"/looplab-*.whl || return 1
    # shellcheck disable=SC2086
    "$VENV/bin/pip" install -q --no-index --find-links "$WHEELS" $DEPS || return 1
    "$VENV/bin/looplab" --help >/dev/null || return 1
}

bubblewrap() {
    if ! command -v bwrap >/dev/null; then
        local deb
        deb=$(ls "$WHEELS"/bubblewrap_*.deb 2>/dev/null | head -1)
        [ -n "$deb" ] || { echo "no bwrap on this machine and no bubblewrap .deb in $WHEELS"; return 1; }
        mkdir -p "$VENV/bwrap" && dpkg-deb -x "$deb" "$VENV/bwrap" || return 1
        chmod -R o+rX "$VENV/bwrap"
    fi
    bwrap --ro-bind / / --dev /dev --proc /proc -- true || { echo "bwrap cannot create a sandbox here"; return 1; }
    command -v setpriv >/dev/null || { echo "setpriv (util-linux) is missing"; return 1; }
}

gpu_tests() {
    cd "$REPO" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider -o addopts="-ra" -m "not slow" \
        tests/test_gpu_passthrough.py tests/test_gpu_scheduling.py tests/test_gpu_measure.py \
        --junitxml "$RESULTS/gpu_tests.xml"
}

tasks_run() {
    cd "$REPO" && "$VENV/bin/looplab" tasks check --run --jobs-dir "$RESULTS/jobs" --write "$RESULTS/catalog_gpu.md" \
        tasks/gpu_*
}

figures() {
    "$VENV/bin/python" - "$RESULTS" <<'EOT'
"""Collect each trial's reward, verification time and timing figures into gpu_check.json."""
import datetime, json, subprocess, sys
from pathlib import Path

res = Path(sys.argv[1])
try:
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=30).stdout.strip()
except (OSError, subprocess.TimeoutExpired) as exc:
    gpu = f"unknown ({exc})"
rows = []
for rp in sorted(res.glob("jobs/*/*/result.json")):
    r = json.loads(rp.read_text())
    if "task_name" not in r:
        continue
    data = {}
    for cand in (rp.parent / "verifier" / "reward.json", rp.parent / "verifier" / "logs" / "reward.json"):
        if cand.is_file():
            data = json.loads(cand.read_text())
            break
    rows.append({
        "task": r["task_name"], "agent": r.get("agent"), "reward": r.get("reward"), "status": r.get("status"),
        "verification_s": ((r.get("timing") or {}).get("verifier") or {}).get("duration_s"),
        "gpus": (r.get("resources") or {}).get("gpus"),
        **{k: data.get(k) for k in ("correct", "speedup", "speedup_ci", "pairs", "cv_baseline", "cv_candidate",
                                    "gain", "loss_baseline", "loss_candidate", "reason", "jailed", "jail",
                                    "peak_allocated_mb", "device_memory_used_mb")},
    })
out = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "gpu": gpu, "trials": rows}
(res / "gpu_check.json").write_text(json.dumps(out, indent=1))
for row in rows:
    print(f"{row['task']:22} {row['agent']:7} reward={row['reward']} verify={row['verification_s']}s "
          f"speedup={row['speedup']} cv={row['cv_baseline']}/{row['cv_candidate']} gain={row['gain']}")
EOT
}

export REPO WHEELS DEPS RESULTS VENV
export -f preflight install bubblewrap gpu_tests tasks_run figures
step preflight 120 preflight || { echo "gpu_check: preflight failed, nothing else can run (see $LOG)"; exit 1; }
step install 120 install || { echo "gpu_check: installing looplab from $WHEELS failed (see $LOG)"; exit 1; }
export PATH="$VENV/bin:$VENV/bwrap/usr/bin:$PATH"
step bubblewrap 30 bubblewrap || { echo "gpu_check: no usable bubblewrap (see $LOG)"; exit 1; }
step gpu-tests 150 gpu_tests
step oracle-and-nop 330 tasks_run
step figures 30 figures
echo "gpu_check: figures in $RESULTS/gpu_check.json and $RESULTS/catalog_gpu.md; log in $LOG"
exit $FAILED
