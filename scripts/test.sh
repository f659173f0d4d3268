#!/usr/bin/env bash
# Runs the whole test suite: unit, property, integration (with sipp as the
# caller), the agent's page in a real browser, and store tests on both
# SQLite and PostgreSQL.
# Installs what the tests need if missing: sipp (Debian's sip-tester), sox,
# Chromium with a CJK font and Node.js (Debian's chromium,
# fonts-wqy-microhei, nodejs, npm), playwright-core (npm, from
# tests/browser/package-lock.json; it downloads no browser) and
# openapi-spec-validator (PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

APT=()
if ! command -v sipp >/dev/null 2>&1; then
    echo "installing sipp (Debian package sip-tester) for the call tests"
    APT+=(sip-tester)
fi
# The agent's page in a real browser (tests/softphone.rs).
if [ ! -x /usr/bin/chromium ]; then
    echo "installing chromium and a CJK font for the browser tests"
    APT+=(chromium fonts-wqy-microhei)
fi
# A second reader of the recordings' WAV files (tests/recordings.rs).
if ! command -v soxi >/dev/null 2>&1; then
    echo "installing sox for the recording tests"
    APT+=(sox)
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "installing Node.js and npm for the browser tests"
    APT+=(nodejs npm)
fi
if [ "${#APT[@]}" -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${APT[@]}" >/dev/null
fi

# playwright-core drives Debian's chromium; it never downloads a browser.
if [ ! -d tests/browser/node_modules ]; then
    echo "installing playwright-core (npm) for the browser tests"
    npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
fi

# An independent OpenAPI 3.1 validator for the served document (tests/api.rs).
if ! python3 -c "import openapi_spec_validator" >/dev/null 2>&1; then
    echo "installing openapi-spec-validator (PyPI) for the OpenAPI test"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        openapi-spec-validator
fi

# The second store. The suite fails under CI=true when it is unreachable.
export HOTLINE_TEST_POSTGRES_URL="${HOTLINE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

# A hung test fails the run after an hour rather than running on.
timeout --kill-after=30 3600 cargo test --locked "$@"
