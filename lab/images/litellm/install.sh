#!/usr/bin/env bash
# Install the LiteLLM proxy from PyPI (run by lab/build.sh with the machine's pip cache mounted at /root/.cache/pip).
set -euo pipefail
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv wget >/dev/null
apt-get clean && rm -rf /var/lib/apt/lists/*
python3 -m venv /opt/litellm
# pip's own cache keeps nothing here (the way to PyPI strips the caching headers): wheels are kept in the cache
# volume instead, built once from any source distribution, and installed from there
wheels=/root/.cache/pip/wheels
/opt/litellm/bin/pip wheel -q -w "$wheels" "litellm[proxy]==${LITELLM_VERSION}"
/opt/litellm/bin/pip install -q --no-index --find-links "$wheels" "litellm[proxy]==${LITELLM_VERSION}"
