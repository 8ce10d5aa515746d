#!/usr/bin/env bash
# Installs what the tests need, then runs them: a Python virtual environment (.venv) with
# the official OpenTelemetry SDK, DuckDB and pyarrow, used as real peers by the Rust
# integration tests. Extra arguments go to the test runner.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
requirements=tests/python/requirements.txt
if ! cmp -s "$requirements" .venv/.requirements 2>/dev/null || [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $(sed -n '/^[a-z]/p' "$requirements" | tr '\n' ' ')"
    rm -rf .venv
    "$python" -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" .venv/.requirements
fi
export VIGIL_TEST_PYTHON="$PWD/.venv/bin/python"

if cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run --no-fail-fast "$@"
else
    exec cargo test "$@"
fi
