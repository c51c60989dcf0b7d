#!/bin/sh
# Installs what the integration tests need outside cargo into a project-local virtual
# environment, target/test-venv/ (gitignored with target/; nothing goes into the system's
# Python, and no root is needed):
#   - python-a2s, the independent A2S client behind tests/a2s_tool.rs and
#     tests/stun_a2s_server.rs;
#   - cryptography (ChaCha20-Poly1305) and blake3, which tools/secure_vectors.py and
#     tools/secure_client.py use: the independent implementation of secure mode behind
#     tests/secure_vectors_python.rs (docs/PROTOCOL.md section 8);
#   - msgpack, the independent MessagePack codec of tools/lobby_msgpack_client.py, the lobby
#     client written from docs/LOBBY.md alone behind tools/tests/lobby_msgpack_python.rs.
# The tests find the environment there (tests/common/python.rs; TICKWIRE_PYTHON overrides).
#
# Also, for tools/tests/agones.rs (`tickwire serve --agones`):
#   - protoc, which the agones crate's build script runs (Debian's protobuf-compiler, through
#     apt-get: that step needs root, as CI is; elsewhere install it yourself);
#   - the Agones SDK fake, tools/agones-fake (dummy-agones from crates.io on a free port),
#     built with cargo into target/agones-fake/ (a no-op when it is up to date).
# Also redis-server, the real Redis behind the fleet tests (tools/tests/fleet_*.rs start
# their own on a free port): installed from the Debian packages (apt-get, as root) only
# when `redis-server` is not on PATH.
#
# Idempotent: does nothing when the environment already imports all four modules; an
# environment that lacks some (made by an older version of this script) gets only what is
# missing. The first run needs the network (PyPI, through pip) and `python3` with its venv
# module (Debian: python3-venv); PYTHON picks another base interpreter.
set -eu
if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "install-test-deps: the fleet tests need redis-server: install it (Debian: apt-get install redis-server)" >&2
        exit 1
    fi
    echo "install-test-deps: installing redis-server (Debian package)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    # The package starts a system instance on 6379 where it can; the tests use their own.
fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v protoc >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "install-test-deps: installing protobuf-compiler (protoc) with apt-get"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >/dev/null
    else
        echo "install-test-deps: protoc is missing: install Debian's protobuf-compiler (as root)" >&2
        exit 1
    fi
fi
cargo build --locked --quiet --manifest-path "$ROOT/tools/agones-fake/Cargo.toml" \
    --target-dir "$ROOT/target/agones-fake"
echo "install-test-deps: protoc and the Agones SDK fake (target/agones-fake/) are there"
VENV="$ROOT/target/test-venv"
PY="$VENV/bin/python3"
# The import names and the PyPI names of what the tests need.
MODULES="a2s cryptography blake3 msgpack"
PACKAGES="python-a2s cryptography blake3 msgpack"
CHECK="import a2s; from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305; import blake3; import msgpack"
if [ -x "$PY" ] && "$PY" -c "$CHECK" 2>/dev/null; then
    echo "install-test-deps: $PACKAGES already installed in $VENV"
    exit 0
fi
if [ ! -x "$PY" ]; then
    BASE="${PYTHON:-python3}"
    if ! "$BASE" -m venv "$VENV"; then
        echo "install-test-deps: '$BASE -m venv' failed: install Python's venv module (Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
fi
# pip skips what is already there, so an older environment only gets what it lacks.
"$PY" -m pip install --quiet $PACKAGES
if ! "$PY" -c "$CHECK"; then
    echo "install-test-deps: $VENV still cannot import all of: $MODULES" >&2
    exit 1
fi
echo "install-test-deps: $PACKAGES installed in $VENV"
