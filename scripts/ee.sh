#!/usr/bin/env bash
# Build the execution environment (execution-environment.yml) and run the platform with it through
# ansible-navigator against the three-host lab, the way AWX runs a job. Needs the Docker engine.
# Usage: scripts/ee.sh [build|run|all]        (default all)
#   EE_BASE_IMAGE=<image>   base with Python >= 3.11 (default: the definition's; where no registry answers, the
#                           lab's Debian base + Python 3.11, built here by lab/build.sh ee-base)
#   EE_TAG=<tag>            image tag (default aiplatform-ee:<collection version>)
#   KEEP_LAB=1              leave the three lab hosts running afterwards
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { printf '[%s] [INFO] [ee] %s\n' "$(date '+%F %T')" "$*"; }
what=${1:-all}
bash scripts/setup.sh --test >/dev/null
export PATH="$root/.venv/bin:$PATH"
version=$(sed -n 's/^version: *//p' galaxy.yml)
tag=${EE_TAG:-aiplatform-ee:$version}

build() {
  local base=${EE_BASE_IMAGE:-} default work
  default=$(python3 -c 'import yaml; print(yaml.safe_load(open("execution-environment.yml"))["images"]["base_image"]["name"])')
  if [ -z "$base" ]; then
    if docker image inspect "$default" >/dev/null 2>&1 || timeout 120 docker pull -q "$default" >/dev/null 2>&1; then
      base=$default
    else
      log "no registry answers for $default: building the base from the lab's Debian image (lab/build.sh ee-base)"
      bash lab/build.sh ee-base
      base=aiplatform-lab/ee-base:current
    fi
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  log "collection tarball $version"
  ansible-galaxy collection build --force --output-path "$work" >/dev/null
  cp execution-environment.yml "$work/"
  log "ansible-builder build -t $tag (base $base)"
  (cd "$work" && ansible-builder build -f execution-environment.yml -t "$tag" -c context --container-runtime docker \
      --build-arg "EE_BASE_IMAGE=$base" -v 2)
  docker run --rm -e HOME=/tmp --entrypoint /bin/sh "$tag" -c \
    'python3 --version && ansible --version | head -n1 && ansible-galaxy collection list aiplatform.stack'
}

run() {
  log "three lab hosts (python3 lab/multihost.py up)"
  bash lab/build.sh
  python3 lab/multihost.py up
  [ -n "${KEEP_LAB:-}" ] || trap 'python3 lab/multihost.py down' EXIT
  # The EE's collection, not the checkout's (.collections comes first in ansible.cfg); the callback from
  # ansible.cfg writes into ./logs (the project directory is mounted at the same path).
  log "ansible-navigator run playbooks/site.yml in $tag"
  ansible-navigator run playbooks/site.yml --mode stdout --pull-policy never --eei "$tag" --ce docker \
    -i inventories/lab-multihost --senv ANSIBLE_COLLECTIONS_PATH=/usr/share/ansible/collections \
    --co=--network=aiplatform-lab-hosts --lf "$root/logs/ansible-navigator.log" --pae false
  log "second run: nothing changes"
  ansible-navigator run playbooks/site.yml --mode stdout --pull-policy never --eei "$tag" --ce docker \
    -i inventories/lab-multihost --senv ANSIBLE_COLLECTIONS_PATH=/usr/share/ansible/collections \
    --co=--network=aiplatform-lab-hosts --lf "$root/logs/ansible-navigator.log" --pae false \
    | tee "$root/logs/ee-second-run.log"
  grep -q 'PLAY RECAP' "$root/logs/ee-second-run.log"
  # our event lines reach the job output, as they do in AWX
  grep -Eq '\[[0-9-]+ [0-9:]+\] \[INFO\] \[[a-z0-9]+\] ' "$root/logs/ee-second-run.log"
  if grep -Eq '(changed|unreachable|failed)=[1-9]' "$root/logs/ee-second-run.log"; then
    log "the second run in $tag was not a no-op (see logs/ee-second-run.log)"; exit 1
  fi
  log "the platform ran in $tag: see logs/aiplatform.log"
}

case "$what" in
  build) build ;;
  run) run ;;
  all) build; run ;;
  *) echo "usage: $0 [build|run|all]" >&2; exit 2 ;;
esac
