#!/bin/sh
# Installs what the integration tests need outside cargo: the python-a2s package, the
# independent A2S client behind tests/a2s_tool.rs. Idempotent: does nothing when the
# `a2s` module already imports.
set -eu
PY="${PYTHON:-python3}"
if "$PY" -c 'import a2s' 2>/dev/null; then
    echo "python-a2s: already installed"
    exit 0
fi
"$PY" -m pip install --quiet python-a2s
"$PY" -c 'import a2s'
echo "python-a2s: installed"
