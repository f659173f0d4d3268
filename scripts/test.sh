#!/usr/bin/env bash
# Runs the whole test suite: unit, property, integration (with sipp as the
# caller) and store tests on both SQLite and PostgreSQL.
# Installs what the tests need if missing: sipp (Debian's sip-tester) and
# openapi-spec-validator (PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v sipp >/dev/null 2>&1; then
    echo "installing sipp (Debian package sip-tester) for the call tests"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq sip-tester >/dev/null
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
