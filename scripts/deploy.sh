#!/usr/bin/env bash
# The main job: set up this host and deploy the platform on it.
# Where no container registry answers, the lab images are built here (lab/build.sh) and inventories/lab is used.
# Usage: scripts/deploy.sh [extra ansible-playbook args]     AIPLATFORM_INVENTORY=inventories/x to choose one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
export PATH="$root/.venv/bin:$PATH"
inventory=${AIPLATFORM_INVENTORY:-}
if [ -z "$inventory" ]; then
  image=$(sed -n 's/^postgres_image: *//p' roles/postgres/defaults/main.yml)
  if docker image inspect "$image" >/dev/null 2>&1 || timeout 60 docker pull -q "$image" >/dev/null 2>&1; then
    inventory=inventories/local
  else
    echo "no registry answers for $image: building the lab images and using inventories/lab"
    bash lab/build.sh
    inventory=inventories/lab
  fi
fi
exec ansible-playbook playbooks/site.yml -i "$inventory" "$@"
