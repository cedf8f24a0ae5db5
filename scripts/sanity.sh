#!/usr/bin/env bash
# ansible-test needs the collection under ansible_collections/<namespace>/<name>: run it on a copy of the tracked files.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/aiplatform/stack"
mkdir -p "$dest"
(cd "$root" && git ls-files -co --exclude-standard | grep -v '^\.collections/' | tar -cf - -T -) | tar -C "$dest" -xf -
cd "$dest"
git init -q && git add -A >/dev/null
ansible-test sanity --python "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" --requirements \
  --exclude lab/ --exclude bench/ --exclude scripts/ "$@"
