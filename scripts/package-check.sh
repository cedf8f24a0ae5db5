#!/usr/bin/env bash
# The collection as Galaxy and Automation Hub see it: build the tarball, list it against the allowlist
# (tests/unit/test_package.py), import it with galaxy-importer (no containers, no ansible-test) and lint its docs
# with antsibull-docs. The tools live in their own venv (they pin their own ansible-core and ansible-lint).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { printf '[%s] [INFO] [package] %s\n' "$(date '+%F %T')" "$*"; }
tools=${AIPLATFORM_TOOLS_VENV:-$HOME/.cache/aiplatform/package-tools}
if [ ! -x "$tools/bin/antsibull-docs" ]; then
  log "creating $tools (galaxy-importer, antsibull-docs, antsibull-changelog)"
  python3 -m venv "$tools"
  "$tools/bin/pip" install -q galaxy-importer==0.4.44 antsibull-docs==2.28.0 antsibull-changelog==0.36.0 \
    distlib==0.4.4 pytest==9.0.3 >/dev/null 2>&1
fi
export PATH="$tools/bin:$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log "tarball listing against the allowlist, FQCN playbooks from an installed collection"
AIPLATFORM_PACKAGE_TEST=required "$tools/bin/python" -m pytest -q -p no:cacheprovider tests/unit/test_package.py | tail -n 1

ansible-galaxy collection build --force --output-path "$work" >/dev/null
tarball=$(ls "$work"/aiplatform-stack-*.tar.gz)
log "$(basename "$tarball"): $(tar tzf "$tarball" | grep -vc '/$') files"

log "galaxy-importer"
cat > "$work/importer.cfg" <<'CFG'
[galaxy-importer]
RUN_ANSIBLE_TEST = False
LOCAL_IMAGE_DOCKER = False
RUN_ANSIBLE_LINT = True
CFG
(cd "$work" && GALAXY_IMPORTER_CONFIG="$work/importer.cfg" python -m galaxy_importer.main "$tarball" > importer.log 2>&1) \
  || { cat "$work/importer.log"; exit 1; }
grep -q "Importer processing completed successfully" "$work/importer.log" || { cat "$work/importer.log"; exit 1; }
! grep -E "WARNING|ERROR" "$work/importer.log" || { echo "galaxy-importer warned" >&2; exit 1; }

log "antsibull-docs lint-collection-docs"
printf '[defaults]\n' > "$work/ansible.cfg"  # not the checkout's: its collections path holds this tree
(cd "$work" && ANSIBLE_CONFIG="$work/ansible.cfg" ansible-galaxy collection install --force -p "$work/installed" "$tarball" >/dev/null 2>&1)
(cd "$work/installed/ansible_collections/aiplatform/stack" && ANSIBLE_COLLECTIONS_PATH="$work/installed" \
  antsibull-docs lint-collection-docs --plugin-docs .)

log "antsibull-changelog lint"
antsibull-changelog lint
log "package checks passed"
