#!/usr/bin/env bash
# The collection on every ansible-core release meta/runtime.yml claims: for each one, a venv with that release,
# then the unit tests, ansible-test sanity (scripts/sanity.sh) and site.yml in check mode for the whole platform
# (plan, run lock, precheck, secrets in memory, every template of every service rendered and validated by the
# engine's compose): it writes nothing on the host.
# Usage: scripts/test-cores.sh                 CORES="2.17 2.19" (default: oldest and newest claimed, plus 2.18)
#        SANITY_CORES="2.17 2.19"               the releases sanity runs on (about 1-3 minutes each)
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

started=$SECONDS
for core in $cores; do
  venv="$cache/$core"
  if [ ! -x "$venv/bin/ansible-playbook" ]; then
    log "ansible-core $core: creating $venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip >/dev/null
    "$venv/bin/pip" install -q "ansible-core==$core.*" pytest==9.0.3 pyyaml jinja2 distlib==0.4.4 >/dev/null 2>&1
  fi
  version=$("$venv/bin/python" -c 'from ansible.release import __version__; print(__version__)')
  "$venv/bin/python" - "$claimed" "$version" <<'PY'
import sys
from ansible.utils.version import SemanticVersion
from ansible.module_utils.compat.version import LooseVersion  # noqa: F401 (import check of the core)
from packaging.specifiers import SpecifierSet
claimed, version = sys.argv[1].strip('"\''), sys.argv[2]
if version not in SpecifierSet(claimed):
    sys.exit(f"ansible-core {version} is tested but meta/runtime.yml claims {claimed}")
PY
  t=$SECONDS
  log "ansible-core $version: unit tests"
  AIPLATFORM_PACKAGE_TEST=required "$venv/bin/python" -m pytest tests/unit -q -p no:cacheprovider | tail -n 1

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

  if [[ " $sanity_cores " == *" $core "* ]]; then
    log "ansible-core $version: ansible-test sanity"
    PATH="$venv/bin:$PATH" bash scripts/sanity.sh > "$cache/sanity-$core.log" 2>&1 \
      || { tail -n 40 "$cache/sanity-$core.log"; exit 1; }
    tail -n 1 "$cache/sanity-$core.log"
  fi
  log "ansible-core $version: passed in $((SECONDS - t)) s"
done
log "all releases passed in $((SECONDS - started)) s"
