#!/usr/bin/env bash
# The test command (README and .ci/run call exactly this): make .venv with the pinned versions,
# then lint, type-check and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
.venv/bin/ruff check amqp_broker exchanges tests bench interop
.venv/bin/ruff format --check amqp_broker exchanges tests bench interop
.venv/bin/mypy --strict amqp_broker exchanges
.venv/bin/pytest "$@"
