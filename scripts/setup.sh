#!/usr/bin/env bash
# Sets up everything this project needs on a Debian machine, from the package registries only:
#   - Debian packages: OpenSSH (sshd is the jump node in tests), iproute2 (network namespaces),
#     Chromium (browser test), iperf3 and wrk (benchmarks);
#   - npm dependencies (npm ci);
#   - a Python virtualenv in .venv with the spawner package and its test dependencies;
#   - the local Kubernetes control plane, built from Go modules into a cache outside the
#     repository (scripts/build-testbin.sh; a second run finds it and returns at once).
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "Installing Debian packages" >&2
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    openssh-server openssh-client iproute2 iperf3 wrk chromium ca-certificates >/dev/null
fi

echo "Installing npm dependencies" >&2
npm ci --no-audit --no-fund

if [ -f spawner/pyproject.toml ]; then
  echo "Installing the Python spawner into .venv" >&2
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e 'spawner[test]'
fi
# The facade's fuzz test runs schemathesis against the facade's OpenAPI document.
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q 'schemathesis==4.32.5'

echo "Building the local control plane (cached)" >&2
bash scripts/build-testbin.sh >/dev/null
echo "Setup complete" >&2
