#!/usr/bin/env bash
# Set up this checkout on a fresh Debian/Ubuntu host: a venv with the pinned controller dependencies, the
# collection resolvable from the checkout, a Docker engine with Compose v2 (installed and started only if absent).
# Usage: scripts/setup.sh [--test]   (--test also installs the test tools)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { printf '[%s] [INFO] [setup] %s\n' "$(date '+%F %T')" "$*"; }

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v git >/dev/null || need_apt+=(git)
# ssh and ssh-keygen: Ansible reaches other hosts over SSH (the three-host lab too)
command -v ssh-keygen >/dev/null || need_apt+=(openssh-client)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

reqs=requirements.txt
[ "${1:-}" = "--test" ] && reqs=requirements-test.txt
key=$({ python3 --version; sha256sum requirements.txt requirements-test.txt "$reqs"; } | sha256sum | cut -c1-12)
if [ "$reqs" = requirements-test.txt ]; then
  # The test tools' venv is kept between checkouts on this machine, keyed by the requirements (a fresh clone, as CI
  # makes, links it instead of installing again): .venv is a link to it.
  shared="${AIPLATFORM_VENVS_DIR:-$HOME/.cache/aiplatform/venvs}/test-$key"
  if [ ! -f "$shared/.complete" ]; then
    log "creating $shared with $reqs"
    rm -rf "$shared"; mkdir -p "$(dirname "$shared")"
    python3 -m venv "$shared"
    "$shared/bin/pip" install -q --upgrade pip >/dev/null
    "$shared/bin/pip" install -q -r "$reqs"
    touch "$shared/.complete"
  fi
  [ "$(readlink .venv 2>/dev/null)" = "$shared" ] || { rm -rf .venv; ln -s "$shared" .venv; }
elif [ -L .venv ] || [ ! -f ".venv/.installed-$key" ]; then
  log "creating .venv with $reqs"
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -r "$reqs"
  touch ".venv/.installed-$key"
fi

# The collection resolves to this checkout (ansible.cfg: collections_path = ./.collections).
mkdir -p .collections/ansible_collections/aiplatform
ln -sfn ../../.. .collections/ansible_collections/aiplatform/stack

COMPOSE_BIN=$(.venv/bin/python -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))') \
  bash scripts/engine.sh
log "ready: $(.venv/bin/ansible --version | head -n1)"
