#!/usr/bin/env bash
# The collection on every ansible-core release meta/runtime.yml claims: for each one, a venv with that release,
# then the unit tests, ansible-test sanity (scripts/sanity.sh) and site.yml in check mode for the whole platform
# (plan, run lock, precheck, secrets in memory, every template of every service rendered and validated by the
# engine's compose): it writes nothing on the host.
# Usage: scripts/test-cores.sh [all|code|plan]  code: unit tests and sanity (no engine needed); plan: the check-mode
#                                               plan (needs the engine and the lab images); all (default): both
#        CORES="2.17 2.19"                      the releases (default: oldest and newest claimed, plus 2.18)
#        SANITY_CORES="2.17 2.19"               the releases sanity runs on (about 1-3 minutes each)
#        CORES_PARALLEL=0                       the code phase one release after the other (default: all at once)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { printf '[%s] [INFO] [cores] %s\n' "$(date '+%F %T')" "$*"; }
cores=${CORES:-2.17 2.18 2.19}
sanity_cores=${SANITY_CORES-2.17 2.19}
cache=${AIPLATFORM_CORES_DIR:-$HOME/.cache/aiplatform/cores}
python=${PYTHON:-python3}
claimed=$(sed -n 's/^requires_ansible: *//p' meta/runtime.yml)
log "meta/runtime.yml claims ansible-core $claimed; testing $cores"
mkdir -p .collections/ansible_collections/aiplatform
ln -sfn ../../.. .collections/ansible_collections/aiplatform/stack

phase=${1:-all}
case $phase in all|code|plan) ;; *) echo "usage: $0 [all|code|plan]" >&2; exit 2 ;; esac

venv_for() {  # core: its venv, one per core and per install list, kept between runs (a changed list makes a new one)
  local core=$1 venv wants
  wants=("ansible-core==$core.*" pytest==9.0.3 pyyaml jinja2 distlib==0.4.4)
  venv="$cache/$core-$(printf '%s\n' "$("$python" --version)" "${wants[@]}" | sha256sum | cut -c1-10)"
  if [ ! -f "$venv/.complete" ]; then
    log "ansible-core $core: creating $venv" >&2
    rm -rf "${cache:?}/$core" "$cache/$core"-*
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip >/dev/null
    "$venv/bin/pip" install -q "${wants[@]}" >/dev/null 2>&1
    touch "$venv/.complete"
  fi
  "$venv/bin/python" - "$claimed" >&2 <<'PY'
import sys
from ansible.release import __version__ as version
from ansible.module_utils.compat.version import LooseVersion  # noqa: F401 (import check of the core)
from packaging.specifiers import SpecifierSet
if version not in SpecifierSet(sys.argv[1].strip('"\'')):
    sys.exit(f"ansible-core {version} is tested but meta/runtime.yml claims {sys.argv[1]}")
PY
  echo "$venv"
}

code() {  # core venv version
  local core=$1 venv=$2 version=$3
  if [ "$core" = "${CORES_UNIT_IN_PYTEST:-}" ]; then
    log "ansible-core $version: unit tests left to scripts/test.sh's pytest stage (the same core)"
  else
    log "ansible-core $version: unit tests"
    AIPLATFORM_PACKAGE_TEST=required "$venv/bin/python" -m pytest tests/unit -q -p no:cacheprovider | tail -n 1
  fi
  if [[ " $sanity_cores " == *" $core "* ]]; then
    log "ansible-core $version: ansible-test sanity"
    PATH="$venv/bin:$PATH" bash scripts/sanity.sh > "$cache/sanity-$core.log" 2>&1 \
      || { tail -n 40 "$cache/sanity-$core.log"; exit 1; }
    tail -n 1 "$cache/sanity-$core.log"
  fi
}

plan() {  # core venv version
  local version=$3 venv=$2 work
  log "ansible-core $version: site.yml in check mode for the whole platform (writes nothing)"
  work=$(mktemp -d)
  ANSIBLE_CONFIG="$root/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$root/.collections" AIPLATFORM_LOG_DIR="$work/logs" \
    "$venv/bin/ansible-playbook" playbooks/site.yml -i inventories/lab --check -e "aiplatform_base_dir=$work/base" \
    > "$work/plan.log" 2>&1 || { cat "$work/plan.log"; exit 1; }
  grep -q 'failed=0' "$work/plan.log" || { cat "$work/plan.log"; exit 1; }
  grep -q 'would change' "$work/logs/aiplatform.log" || { cat "$work/logs/aiplatform.log"; exit 1; }
  # check mode writes nothing on the host: not even the base directory
  [ ! -e "$work/base" ] || { echo "check mode created $work/base" >&2; find "$work/base" >&2; exit 1; }
  # the platform_log callback ran on this core (events file written)
  test -s "$work/logs/events.jsonl" || { echo "no events recorded on ansible-core $version" >&2; exit 1; }
  rm -rf "$work"
}

one() {  # core venv: one release's phase, timed
  local core=$1 venv=$2 t=$SECONDS version
  version=$("$venv/bin/python" -c 'from ansible.release import __version__; print(__version__)')
  [ "$phase" = plan ] || code "$core" "$venv" "$version"
  [ "$phase" = code ] || plan "$core" "$venv" "$version"
  log "ansible-core $version ($phase): passed in $((SECONDS - t)) s"
}

started=$SECONDS
declare -A venvs=()
for core in $cores; do venvs[$core]=$(venv_for "$core"); done  # one after the other: pip's cache is shared
if [ "${CORES_PARALLEL:-1}" = 1 ] && [ "$phase" = code ]; then
  # Each release's unit tests and sanity use one core of the machine at a time, in their own copies and venvs: all
  # at once they take about as long as the longest; each one's output is shown whole, in order, once it ends.
  declare -A pids=() logs=()
  for core in $cores; do
    logs[$core]=$(mktemp "/tmp/aiplatform-cores-$core.XXXX.log")
    one "$core" "${venvs[$core]}" >"${logs[$core]}" 2>&1 & pids[$core]=$!
  done
  failed=
  for core in $cores; do
    wait "${pids[$core]}" || failed="$failed $core"
    cat "${logs[$core]}"; rm -f "${logs[$core]}"
  done
  [ -z "$failed" ] || { log "failed on ansible-core$failed"; exit 1; }
else
  for core in $cores; do one "$core" "${venvs[$core]}"; done
fi
log "all releases passed ($phase) in $((SECONDS - started)) s"
