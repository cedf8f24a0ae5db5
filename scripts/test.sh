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
declare -A bg_pid=() bg_log=() bg_start=() bg_epoch=()
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
background() {  # name command...: start a stage in the background (it needs no core the foreground uses much)
  local name=$1; shift
  log "$name (in the background)"
  bg_log[$name]=$(mktemp "/tmp/aiplatform-$name.XXXX.log"); bg_start[$name]=$SECONDS
  # its end is written beside its log: the table shows how long it ran, not how long until it was joined
  ( rc=0; "$@" >"${bg_log[$name]}" 2>&1 || rc=$?; date +%s >"${bg_log[$name]}.end"; exit $rc ) &
  bg_pid[$name]=$!
  bg_epoch[$name]=$(date +%s)
}
join() {  # name: wait for a background stage, show its output, keep its seconds (from its start to its end)
  local name=$1 rc=0 start=${bg_start[$1]} ran
  wait "${bg_pid[$name]}" || rc=$?
  unset "bg_pid[$name]"
  cat "${bg_log[$name]}"
  ran=$(( $(cat "${bg_log[$name]}.end" 2>/dev/null || date +%s) - bg_epoch[$name] ))
  rm -f "${bg_log[$name]}" "${bg_log[$name]}.end"
  stages+=("$(printf '%-14s %5d s (background, joined after %d s)%s' "$name" "$ran" $((SECONDS - start)) \
    "$([ $rc -eq 0 ] || echo "  FAILED ($rc)")")")
  return $rc
}

wait_for_core_images() {  # until lab/build.sh says every image but the npm ones is built, or it ended without
  while [ ! -e "$LAB_CORE_READY" ]; do
    if [ -e "${bg_log[lab-images]}.end" ]; then join lab-images; [ -e "$LAB_CORE_READY" ] && return 0; return 1; fi
    sleep 2
  done
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
# ansible-lint keeps one core busy: it runs beside the next stages
background ansible-lint ansible-lint --profile production --offline

if [ -n "$fast" ]; then
  # unit tests and sanity on the core of .venv (scripts/test-cores.sh covers every claimed core)
  stage unit pytest tests/unit -q -p no:cacheprovider "$@"
  sanity_log=$(mktemp /tmp/aiplatform-sanity.XXXX.log)
  stage sanity bash -c 'bash scripts/sanity.sh > "$1" 2>&1 || { tail -n 40 "$1"; exit 1; }; tail -n 1 "$1"' sanity "$sanity_log"
  rm -f "$sanity_log"
  join ansible-lint
  exit 0
fi

# The lab build waits on the network and the disk as much as on the cores: it runs in the background while the
# cores are tested, and only the check-mode plans and what follows need its images.
stage chromium install_chromium
LAB_CORE_READY=$(mktemp -u /tmp/aiplatform-lab-core.XXXX)
export LAB_CORE_READY
background lab-images bash lab/build.sh
# The last stage's pytest runs the unit tests on .venv's core: test-cores.sh runs them on the other cores only.
CORES_UNIT_IN_PYTEST=$(python -c 'from ansible.release import __version__ as v; print(".".join(v.split(".")[:2]))')
export CORES_UNIT_IN_PYTEST
stage cores-code bash scripts/test-cores.sh code
join ansible-lint
# the package checks need no engine: they run beside the stages that wait on it, until the engine tests
background package bash scripts/package-check.sh
# The late images (Node, n8n, Flowise, Open WebUI) are the long poles of a build from nothing: what needs none of
# them starts as soon as the rest is built, and pytest runs the tests that need them last; a deploy that runs one
# waits for it (tests/integration/conftest.py, wait_for_late_images).
stage lab-core wait_for_core_images
# the execution environment (on the lab's base): built beside molecule, run by test_multihost against its three hosts
background ee-build bash scripts/ee.sh build
stage molecule molecule test
join package
join ee-build
export AIPLATFORM_EE_BUILT=1  # test_multihost need not build it again
export AIPLATFORM_LAB_BUILD_END="${bg_log[lab-images]}.end" AIPLATFORM_LAB_BUILD_LOG="${bg_log[lab-images]}"
if [ $# -eq 0 ]; then
  # The three-host lab runs on engines of its own, inside containers of this one (lab/multihost.py): its module is a
  # second lane, a pytest of its own beside the main one, which mostly waits on health checks. The main lane waits
  # for it to end before a test stops this machine's engine (AIPLATFORM_SIDE_LANE_END, tests/integration/conftest.py).
  # It runs niced: the main lane's timed cases (crash-loop detection, concurrent runs) keep the cores first.
  background multihost nice -n 10 pytest tests/integration/test_multihost.py --durations=0 -p no:cacheprovider
  export AIPLATFORM_SIDE_LANE_END="${bg_log[multihost]}.end"
  rc=0
  stage pytest pytest tests --ignore=tests/integration/test_multihost.py --durations=0 || rc=$?
  join multihost || rc=$?
  [ $rc -eq 0 ] || exit $rc
else
  stage pytest pytest tests --durations=0 "$@"
fi
if [ -n "${bg_pid[lab-images]:-}" ]; then join lab-images; fi
stage cores-plan bash scripts/test-cores.sh plan
