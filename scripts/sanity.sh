#!/usr/bin/env bash
# ansible-test needs the collection under ansible_collections/<namespace>/<name>: run it on a copy of the tracked files.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/aiplatform/stack"
mkdir -p "$dest"
(cd "$root" && git ls-files -co --exclude-standard | grep -v '^\.collections/' | tar -cf - -T -) | tar -C "$dest" -xf -
# ansible-test bootstraps pip in its venvs with a script from a host this machine cannot reach: give it ours.
pip_version=$(python3 -c 'import re, ansible_test._internal.python_requirements as r, inspect; print(re.search(r"pip=.([0-9.]+).", inspect.getsource(r)).group(1))')
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$cache")"; cp "$root/scripts/ansible_test_get_pip.py" "$cache"
cd "$dest"
git init -q && git add -A >/dev/null
ansible-test sanity --python "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" --requirements \
  --exclude lab/ --exclude scripts/ "$@"
