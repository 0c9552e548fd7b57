#!/usr/bin/env bash
# Installs what this project needs and is missing, from the package registries only. `npm test`
# and `npm run demo` run it first; it is idempotent and returns in about a second when everything
# is in place. Each block below checks its own part and installs it only when missing or stale:
#   - Debian packages: OpenSSH (sshd is the jump node in tests), iproute2 (network namespaces),
#     Chromium (browser test), iperf3 and wrk (benchmarks);
#   - npm dependencies (npm ci, which applies patches/), again whenever package-lock.json or
#     patches/ change;
#   - a Python virtualenv in .venv with the spawner package and its test tools, again whenever
#     spawner/pyproject.toml changes (a .venv that is a symlink belongs to another checkout and is
#     left alone);
#   - the local Kubernetes control plane and Helm, built from Go modules into a cache outside the
#     repository (scripts/build-testbin.sh).
# Needs: bash, node/npm, python3 and go (see README). Settings (environment):
#   JFO_SKIP_SETUP=1  do nothing (for a checkout whose set-up is managed by hand).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${JFO_SKIP_SETUP:-}" = 1 ] && exit 0

say() { echo "setup: $*" >&2; }

# A stamp records the hash of what a block installed from; the block runs again when it differs.
digest() { cat "$@" | sha256sum | cut -d' ' -f1; }
fresh() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# --- Debian packages ---
debs=(openssh-server openssh-client iproute2 iperf3 wrk chromium ca-certificates)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || { say "missing Debian packages (no apt-get): ${missing[*]}"; exit 1; }
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# --- npm dependencies ---
npm_stamp=node_modules/.jfo-setup
# npm ci also applies patches/ (postinstall): they count too.
npm_want=$(digest package-lock.json $(find patches -type f 2>/dev/null | sort))
if ! fresh "$npm_stamp" "$npm_want"; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund >&2
  echo "$npm_want" >"$npm_stamp"
fi

# --- Python virtualenvs: the spawner and its tests on both JupyterHub majors ---
# .venv: JupyterHub 6 (the hub of the e2e), the reference's main subclass OutpostSpawner without its
# dependency on the reference (this package provides the `forwardbasespawner` module, decision
# 0042), and schemathesis for the facade's fuzz test. .venv-jh5: the same spawner on JupyterHub 5.
py_stamp=.venv/.jfo-setup
py_pins="jupyterhub>=6,<7 schemathesis==4.32.5"
py_extra="jupyterhub-outpostspawner==2.2.13"
py_want=$(echo "$py_pins $py_extra" | digest spawner/pyproject.toml -)
if [ -L .venv ]; then
  : # another checkout's virtualenv, set up there
elif ! fresh "$py_stamp" "$py_want"; then
  say "installing the Python spawner and test tools into .venv (JupyterHub 6)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e 'spawner[test]' $py_pins
  .venv/bin/python -m pip install -q --no-deps $py_extra
  echo "$py_want" >"$py_stamp"
fi
jh5_stamp=.venv-jh5/.jfo-setup
jh5_pins="jupyterhub>=5,<6"
jh5_want=$(echo "$jh5_pins" | digest spawner/pyproject.toml -)
if [ -L .venv-jh5 ]; then
  : # another checkout's virtualenv, set up there
elif ! fresh "$jh5_stamp" "$jh5_want"; then
  say "installing the Python spawner and its tests into .venv-jh5 (JupyterHub 5)"
  [ -x .venv-jh5/bin/python ] || python3 -m venv .venv-jh5
  .venv-jh5/bin/python -m pip install -q --upgrade pip
  .venv-jh5/bin/python -m pip install -q -e 'spawner[test]' $jh5_pins
  echo "$jh5_want" >"$jh5_stamp"
fi

# --- Local control plane (etcd, kube-apiserver, kube-controller-manager, kubectl) and Helm ---
# build-testbin.sh keeps its own cache and returns at once when the binaries are there.
bash scripts/build-testbin.sh >/dev/null

say "ready"
