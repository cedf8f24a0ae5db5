#!/usr/bin/env bash
# Install Open WebUI from PyPI without its local-model stack (requirements.py), run by lab/build.sh with the machine's
# pip cache mounted at /root/.cache/pip and this folder at /lab.
set -euo pipefail
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv wget >/dev/null
apt-get clean && rm -rf /var/lib/apt/lists/*
python3 -m venv /opt/open-webui
# pip's own cache keeps nothing here (the way to PyPI strips the caching headers): wheels are kept in the cache
# volume instead, built once from any source distribution, and installed from there
wheels=/root/.cache/pip/wheels
pip=/opt/open-webui/bin/pip
$pip wheel -q --no-deps -w "$wheels" "open-webui==${OPEN_WEBUI_VERSION}"
$pip install -q --no-index --find-links "$wheels" --no-deps "open-webui==${OPEN_WEBUI_VERSION}"
/opt/open-webui/bin/python /lab/requirements.py > /opt/requirements.txt
$pip wheel -q -w "$wheels" -r /opt/requirements.txt
$pip install -q --no-index --find-links "$wheels" -r /opt/requirements.txt
mkdir -p /app/backend/data
