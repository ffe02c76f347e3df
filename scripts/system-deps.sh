#!/usr/bin/env bash
# Debian packages the tests use, at pinned versions: a real RabbitMQ for differential tests and
# benchmarks (the interop suite, the management API comparison, rabbitmqadmin) and rabbitmq-c's
# command-line tools. Installs only what is missing; needs root and apt (CI runs as root on
# Debian bookworm). Elsewhere it says what is missing and leaves the machine alone: the tests that
# need these packages then skip with that reason, and CI (which has them) runs them.
set -euo pipefail

PACKAGES=(
    "rabbitmq-server=3.10.8-1.1+deb12u1"
    "amqp-tools=0.11.0-1+deb12u3"
)

missing=()
for pinned in "${PACKAGES[@]}"; do
    name="${pinned%%=*}"
    version="${pinned#*=}"
    installed="$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null || true)"
    if [ "$installed" != "$version" ]; then
        missing+=("$pinned")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "system-deps: not installed (needs root and apt): ${missing[*]}" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The package's post-install tries to start a system node; no init system here, so it is refused,
# which is what we want: the tests start private nodes (interop/rabbitmq_node.py).
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
