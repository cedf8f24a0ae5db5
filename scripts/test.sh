#!/usr/bin/env bash
# Set up and run every test: lint, sanity, collection build, unit tests, integration tests on the real engine.
# Usage: scripts/test.sh [pytest args]     everything (what CI runs)
#        scripts/test.sh --fast            the developer's lane: ruff, ansible-lint, unit tests, sanity on one core
# Each stage's seconds are printed at the end (and when a stage fails), and pytest lists every test's duration.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { printf '[%s] [INFO] [tests] %s\n' "$(date '+%F %T')" "$*"; }
fast=
[ "${1:-}" = "--fast" ] && { fast=1; shift; }

stages=()
started=$SECONDS
timings() {
  local rc=$? line
  log "seconds per stage (total $((SECONDS - started)) s, exit $rc):"
  for line in "${stages[@]}"; do printf '  %s\n' "$line"; done
}
trap timings EXIT
stage() {  # name command...: run one stage and keep its seconds for the table
  local name=$1 t=$SECONDS rc=0; shift
  log "$name"
  "$@" || rc=$?
  stages+=("$(printf '%-14s %5d s%s' "$name" $((SECONDS - t)) "$([ $rc -eq 0 ] || echo "  FAILED ($rc)")")")
  return $rc
}

install_chromium() {
  command -v chromium >/dev/null 2>&1 && return
  log "installing Debian's chromium (the HTML report is checked in it)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
}

stage setup bash scripts/setup.sh --test
export PATH="$root/.venv/bin:$PATH"
stage ruff ruff check plugins tests lab scripts molecule
stage ansible-lint ansible-lint --profile production --offline

if [ -n "$fast" ]; then
  # unit tests and sanity on the core of .venv (scripts/test-cores.sh covers every claimed core)
  stage unit pytest tests/unit -q -p no:cacheprovider "$@"
  stage sanity bash -c 'bash scripts/sanity.sh > .sanity.log 2>&1 || { tail -n 40 .sanity.log; exit 1; }; tail -n 1 .sanity.log; rm -f .sanity.log'
  exit 0
fi

# The lab build waits on the network and the disk: it runs in the background while the cores are tested, and only the
# check-mode plans and what follows need its images.
stage chromium install_chromium
log "lab images (in the background: lab/build.sh)"
lab_log=$(mktemp /tmp/aiplatform-lab-build.XXXX.log)
lab_t=$SECONDS
bash lab/build.sh >"$lab_log" 2>&1 &
lab_pid=$!
stage cores-code bash scripts/test-cores.sh code
stage package bash scripts/package-check.sh
lab_rc=0; wait "$lab_pid" || lab_rc=$?
cat "$lab_log"; rm -f "$lab_log"
stages+=("$(printf '%-14s %5d s (background, from its start to its end)%s' lab-images $((SECONDS - lab_t)) \
  "$([ $lab_rc -eq 0 ] || echo "  FAILED ($lab_rc)")")")
[ "$lab_rc" -eq 0 ]
stage cores-plan bash scripts/test-cores.sh plan
stage ee bash scripts/ee.sh
stage molecule molecule test
stage pytest pytest tests --durations=0 "$@"
