#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need, then cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x tools/install-test-deps.sh ]; then
  tools/install-test-deps.sh
fi
cargo test --locked "$@"
