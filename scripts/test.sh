#!/usr/bin/env bash
# Set up and run every test: lint, sanity, collection build, unit tests, integration tests on the real engine.
# Usage: scripts/test.sh [pytest args]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { printf '[%s] [INFO] [tests] %s\n' "$(date '+%F %T')" "$*"; }
bash scripts/setup.sh --test
export PATH="$root/.venv/bin:$PATH"

if ! command -v chromium >/dev/null 2>&1; then
  log "installing Debian's chromium (the HTML report is checked in it)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
fi

log "lab images"
bash lab/build.sh

log "ruff"
ruff check plugins tests lab scripts molecule

log "ansible-lint (production profile)"
ansible-lint --profile production --offline

log "every claimed ansible-core release: unit tests, ansible-test sanity, check-mode plan (scripts/test-cores.sh)"
bash scripts/test-cores.sh

log "collection package: allowlist, galaxy-importer, antsibull-docs (scripts/package-check.sh)"
bash scripts/package-check.sh

log "execution environment: built with ansible-builder, site.yml run twice in it by ansible-navigator on the three lab hosts"
bash scripts/ee.sh

log "molecule: converge, idempotence, verify (lab stack on this host)"
molecule test

log "pytest: unit and integration"
exec pytest tests "$@"
