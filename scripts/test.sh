#!/usr/bin/env bash
# The test command (README and .ci/run call exactly this): make .venv with the pinned versions,
# then lint, type-check and run the whole test suite, then (with no arguments) the interop suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
.venv/bin/ruff check amqp_broker exchanges tests bench interop
.venv/bin/ruff format --check amqp_broker exchanges tests bench interop
.venv/bin/mypy --strict amqp_broker exchanges interop
.venv/bin/pytest "$@"
# The interop suite (docs/compatibility.md): real clients against our broker and, when
# rabbitmq-server is installed, against a private RabbitMQ node, compared. Only on a full run.
if [ "$#" -eq 0 ]; then
    if .venv/bin/python -c 'import sys, interop.rabbitmq_node as n; sys.exit(not n.available())'; then
        .venv/bin/python -m interop --rabbitmq
    else
        echo "interop: rabbitmq-server is not installed; running against our broker only" >&2
        .venv/bin/python -m interop
    fi
fi
