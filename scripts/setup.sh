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
# The spawner on both JupyterHub majors: .venv has JupyterHub 6 (the hub of the e2e) and the
# reference's main subclass, OutpostSpawner, without its dependency on the reference (this
# package provides the `forwardbasespawner` module, decision 0042); .venv-jh5 has JupyterHub 5.
if [ -f spawner/pyproject.toml ]; then
  echo "Installing JupyterHub 6 and OutpostSpawner into .venv, JupyterHub 5 into .venv-jh5" >&2
  .venv/bin/python -m pip install -q -e 'spawner[test]' 'jupyterhub>=6,<7'
  .venv/bin/python -m pip install -q --no-deps 'jupyterhub-outpostspawner==2.2.13'
  [ -x .venv-jh5/bin/python ] || python3 -m venv .venv-jh5
  .venv-jh5/bin/python -m pip install -q --upgrade pip
  .venv-jh5/bin/python -m pip install -q -e 'spawner[test]' 'jupyterhub>=5,<6'
fi
# The facade's fuzz test runs schemathesis against the facade's OpenAPI document.
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q 'schemathesis==4.32.5'

echo "Building the local control plane (cached)" >&2
bash scripts/build-testbin.sh >/dev/null
echo "Setup complete" >&2
