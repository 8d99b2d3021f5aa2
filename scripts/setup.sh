#!/usr/bin/env bash
# Idempotent set-up on a Debian machine with Python 3.11, run as root:
# system packages (bubblewrap, valgrind, a C toolchain, Debian's python3 + venv, the image tools),
# then a .venv built on Debian's /usr/bin/python3 (world-readable, so sandboxed
# processes running as an unprivileged user can execute it), then looplab itself.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# skopeo + umoci pull and unpack images without a daemon; docker-registry and mmdebstrap build
# and serve the stand-in base images the image tests use
for cmd in bwrap:bubblewrap valgrind:valgrind gcc:gcc make:make git:git setpriv:util-linux \
  skopeo:skopeo umoci:umoci docker-registry:docker-registry mmdebstrap:mmdebstrap; do
  command -v "${cmd%%:*}" >/dev/null 2>&1 || need+=("${cmd#*:}")
done
[ -x /usr/bin/python3 ] || need+=(python3)
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing system packages (${need[*]}); run as root or: apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(0 if sys.base_prefix == "/usr" else 1)'; then
  rm -rf .venv
  /usr/bin/python3 -m venv .venv
fi
stamp=.venv/.looplab-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "${LOOPLAB_SETUP_FORCE:-0}" = 1 ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".[dev,torch,ray,gpu]"
  touch "$stamp"
fi
