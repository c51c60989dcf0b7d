#!/bin/sh
# Installs what the integration tests need outside cargo: the python-a2s package, the
# independent A2S client behind tests/a2s_tool.rs and tests/stun_a2s_server.rs, into a
# project-local virtual environment, target/test-venv/ (gitignored with target/; nothing
# goes into the system's Python, and no root is needed). The tests find it there
# (tests/common/python.rs; TICKWIRE_PYTHON overrides).
#
# Idempotent: does nothing when the environment already imports `a2s`. The first run
# needs the network (PyPI, through pip) and `python3` with its venv module (Debian:
# python3-venv); PYTHON picks another base interpreter.
set -eu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/target/test-venv"
PY="$VENV/bin/python3"
if [ -x "$PY" ] && "$PY" -c 'import a2s' 2>/dev/null; then
    echo "python-a2s: already installed in $VENV"
    exit 0
fi
BASE="${PYTHON:-python3}"
if ! "$BASE" -m venv "$VENV"; then
    echo "install-test-deps: '$BASE -m venv' failed: install Python's venv module (Debian: apt-get install python3-venv)" >&2
    exit 1
fi
"$PY" -m pip install --quiet python-a2s
"$PY" -c 'import a2s'
echo "python-a2s: installed in $VENV"
