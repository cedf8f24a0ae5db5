#!/usr/bin/env bash
# Mutation testing of the deploy's scheduler (plugin_utils/scheduler.py) and host step (module_utils/deploy_step.py)
# with mutmut, against the unit tests that import them (issue 22: a test suite that still passes when a condition is
# inverted is not guarding that condition).
# Usage: scripts/mutation.sh [MUTANT_GLOB...]   e.g. '*scheduler.xǁSchedulerǁsummary*' to try one function again
# Prints killed/total per file and exits non-zero when a file is under 90 % killed or a mutant that was not killed is
# not explained in tests/mutation-survivors.md. Runs on one core under nice: the machine is shared with engine tests.
# mutmut works on a copy in a temporary folder laid out as ansible_collections/aiplatform/stack/, so the mutants are
# named after the modules the tests import; nothing in the checkout is touched. Keep the copy: MUTATION_KEEP=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { printf '[%s] [INFO] [mutation] %s\n' "$(date '+%F %T')" "$*"; }

tools=(mutmut==3.8.1 pytest==9.0.3)
key=$({ python3 --version; printf '%s\n' "${tools[@]}"; cat requirements.txt; } | sha256sum | cut -c1-12)
venv="${AIPLATFORM_MUTATION_DIR:-$HOME/.cache/aiplatform}/mutation-$key"
if [ ! -f "$venv/.complete" ]; then
  log "creating $venv (${tools[*]} and requirements.txt)"
  rm -rf "$venv"; mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  { "$venv/bin/pip" install -q --upgrade pip && "$venv/bin/pip" install -q "${tools[@]}" -r requirements.txt; } \
    > "$venv/pip.log" 2>&1 || { cat "$venv/pip.log"; exit 1; }
  touch "$venv/.complete"
fi

work=$(mktemp -d /tmp/aiplatform-mutation.XXXXXX)
[ -n "${MUTATION_KEEP:-}" ] && log "keeping $work" || trap 'rm -rf "$work"' EXIT
stack="$work/ansible_collections/aiplatform/stack"
mkdir -p "$stack"
# the files a clean clone has, plus new ones not yet committed (not the ignored: .venv, .collections, logs)
git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$stack"

prefix=ansible_collections/aiplatform/stack
tests=(test_scheduler test_scheduler_advance test_scheduler_check test_scheduler_steps test_scheduler_drift test_scheduler_outcomes test_scheduler_engine test_deploy_step test_deploy_step_outcomes
       test_waves test_drift_deploy test_first_admin test_litellm_keys test_pg_login test_project test_redaction
       test_runner)
{
  echo "[mutmut]"
  echo "source_paths ="
  echo "    $prefix/plugins/plugin_utils/scheduler.py"
  echo "    $prefix/plugins/module_utils/deploy_step.py"
  echo "also_copy ="
  echo "    ansible_collections/"
  echo "pytest_add_cli_args = -p no:cacheprovider"
  echo "pytest_add_cli_args_test_selection ="
  for t in "${tests[@]}"; do
    [ -f "$stack/tests/unit/$t.py" ] && echo "    $prefix/tests/unit/$t.py"
  done
} > "$work/setup.cfg"

log "mutmut $(cut -d= -f3 <<<"${tools[0]}") on scheduler.py and deploy_step.py, one worker, in $work"
started=$SECONDS
(cd "$work" && nice -n 19 "$venv/bin/mutmut" run --max-children 1 "$@" > "$work/mutmut.log" 2>&1) || {
  tail -n 30 "$work/mutmut.log" | tr '\r' '\n' | tail -n 30; log "mutmut failed"; exit 1; }
log "mutmut ran $((SECONDS - started)) s"
cd "$work" && "$venv/bin/python" "$stack/scripts/mutation_report.py" "$stack/tests/mutation-survivors.md" "$@"
