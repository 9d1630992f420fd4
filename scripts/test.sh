#!/usr/bin/env bash
# Runs every test of the workspace. This is the one test command: the README names it and
# .ci/run calls it. It installs what the interoperability tests need (Python packages into a
# virtual environment under the build directory), then runs `cargo test` on everything.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-$PWD/target}"
mkdir -p "$target"

# Independent implementations used by interop tests (PyJWT, cryptography) live in a venv.
venv="$target/interop-venv"
req="tests/interop/requirements.txt"
stamp="$venv/.installed-$(sha256sum "$req" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing interop test packages into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  touch "$stamp"
fi
export WRIT_TEST_PYTHON="$venv/bin/python"

# Conformance vectors live beside the repository, in ../shared/conformance.
if [ -z "${WRIT_CONFORMANCE_DIR:-}" ] && [ -d ../shared/conformance ]; then
  export WRIT_CONFORMANCE_DIR="$(cd ../shared/conformance && pwd)"
fi

exec cargo test --workspace --locked "$@"
