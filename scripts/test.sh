#!/usr/bin/env bash
# Runs every test of the workspace. This is the one test command: the README names it and
# .ci/run calls it. It installs what the interoperability tests need (Python packages into a
# virtual environment under the build directory), then runs `cargo test` on everything.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-$PWD/target}"
mkdir -p "$target"

# Independent implementations used by interop tests (PyJWT, cryptography, the MCP SDK) and
# schemathesis (the API checked against /v1/openapi.json on a real server) live in a venv.
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

# Real MCP servers, the MCP conformance suite and Node 22 (which the suite needs) from npm, for
# the MCP gateway's interop tests; reinstalled only when the lock file changes.
node_dir="$target/interop-node"
lock="tests/interop/package-lock.json"
if command -v npm >/dev/null 2>&1; then
  node_stamp="$node_dir/.installed-$(sha256sum "$lock" | cut -c1-16)"
  if [ ! -f "$node_stamp" ]; then
    echo "==> installing MCP interop packages into $node_dir"
    rm -rf "$node_dir"
    mkdir -p "$node_dir"
    cp tests/interop/package.json "$lock" "$node_dir/"
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$node_stamp"
  fi
  export WRIT_TEST_NODE_MODULES="$node_dir/node_modules"
elif [ "${WRIT_REQUIRE_CONFORMANCE:-}" = "1" ]; then
  echo "npm is required for the MCP interop tests (WRIT_REQUIRE_CONFORMANCE=1)" >&2
  exit 1
fi

# Debian's Chromium for every browser test (the console's, the proof verifier's), installed
# with apt when missing: no browser is ever downloaded.
if ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing Debian's chromium for the browser tests"
  sudo_cmd=""
  [ "$(id -u)" = "0" ] || sudo_cmd="sudo"
  if ! DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null 2>&1; then
    $sudo_cmd apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null 2>&1 ||
      echo "==> could not install chromium; the browser tests will fail where they are required" >&2
  fi
fi

# The web console (ui/): its test packages (TypeScript, Playwright's driver without a browser
# download, axe-core) from ui/package-lock.json into the build directory, and Debian's Chromium
# for the browser tests (crates/writ-server/tests/it/ui_browser.rs). Then the type check and
# the console's own unit tests; the browser tests run with cargo test below.
if command -v npm >/dev/null 2>&1; then
  ui_dir="$target/ui-node"
  ui_lock="ui/package-lock.json"
  ui_stamp="$ui_dir/.installed-$(sha256sum "$ui_lock" | cut -c1-16)"
  if [ ! -f "$ui_stamp" ]; then
    echo "==> installing the console's test packages into $ui_dir"
    rm -rf "$ui_dir"
    mkdir -p "$ui_dir"
    cp ui/package.json "$ui_lock" "$ui_dir/"
    (cd "$ui_dir" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$ui_stamp"
  fi
  export WRIT_UI_NODE_MODULES="$ui_dir/node_modules"
  if command -v chromium >/dev/null 2>&1; then
    export WRIT_CHROMIUM="$(command -v chromium)"
  fi
  echo "==> console: tsc --checkJs --noEmit, node --test"
  "$WRIT_UI_NODE_MODULES/.bin/tsc" -p ui/tsconfig.json
  node --test $(find ui/tests -name "*.test.js" | sort)
  if [ "${WRIT_REQUIRE_CONFORMANCE:-}" = "1" ]; then
    export WRIT_REQUIRE_UI=1
  fi
elif [ "${WRIT_REQUIRE_CONFORMANCE:-}" = "1" ]; then
  echo "npm is required for the console's tests (WRIT_REQUIRE_CONFORMANCE=1)" >&2
  exit 1
fi

# Conformance vectors live beside the repository, in ../shared/conformance.
if [ -z "${WRIT_CONFORMANCE_DIR:-}" ] && [ -d ../shared/conformance ]; then
  export WRIT_CONFORMANCE_DIR="$(cd ../shared/conformance && pwd)"
fi

# The browser-side proof verifier (ui/verify): the conformance vectors under node's test runner
# and in Chromium. Its agreement with the Rust verifier runs in cargo test (writ-cli verify_js),
# which also runs ui/verify/test/rust.test.js against the freshly built binary.
if command -v node >/dev/null 2>&1; then
  echo "==> ui/verify tests (node --test)"
  node --test $(find ui/verify/test -name '*.test.js' ! -name rust.test.js | sort)
elif [ "${WRIT_REQUIRE_CONFORMANCE:-}" = "1" ]; then
  echo "node is required for the ui/verify tests (WRIT_REQUIRE_CONFORMANCE=1)" >&2
  exit 1
fi

# Fuzz smoke: every target of fuzz/ builds and runs its seed corpus plus a few thousand
# executions (scripts/fuzz.sh; libFuzzer needs nightly Rust and cargo-fuzz). CI installs what
# is missing; elsewhere a missing toolchain skips the smoke with a note. WRIT_SKIP_FUZZ=1 skips it.
if [ "${WRIT_SKIP_FUZZ:-}" != "1" ]; then
  if [ "${WRIT_REQUIRE_CONFORMANCE:-}" = "1" ]; then
    cargo +nightly --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
    cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
  fi
  if cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "==> fuzz smoke (scripts/fuzz.sh --runs 3000)"
    bash scripts/fuzz.sh --runs 3000
  else
    echo "==> fuzz smoke skipped: no nightly toolchain with cargo-fuzz (rustup toolchain install nightly --profile minimal; cargo install cargo-fuzz --locked)" >&2
  fi
fi

# PostgreSQL for the storage suite (crates/writ-ledger/tests/it/storage.rs): a throwaway
# server from Debian's postgresql-15 (scripts/postgres.sh installs it when missing), stopped
# when this script exits (so `cargo test` below runs without `exec`, for the trap). With
# WRIT_REQUIRE_CONFORMANCE=1 a server that does not start fails the run; otherwise the suite's
# PostgreSQL half is skipped with a note. A WRIT_TEST_POSTGRES_URL given by the caller is used.
if [ -z "${WRIT_TEST_POSTGRES_URL:-}" ]; then
  if pg_env=$(bash scripts/postgres.sh start); then
    eval "$pg_env"
    trap 'bash scripts/postgres.sh stop "$WRIT_PG_DIR"' EXIT
  elif [ "${WRIT_REQUIRE_CONFORMANCE:-}" = "1" ]; then
    echo "PostgreSQL did not start (WRIT_REQUIRE_CONFORMANCE=1)" >&2
    exit 1
  else
    echo "==> PostgreSQL did not start: the storage suite's PostgreSQL half is skipped" >&2
  fi
fi

cargo test --workspace --locked "$@"
