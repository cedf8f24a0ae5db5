#!/usr/bin/env bash
# Install n8n from the npm registry (run by lab/build.sh with the machine's npm cache mounted at /root/.npm).
# A failed install fails the build; only sqlite3's rebuild may fail.
set -euo pipefail
npm install -g --omit=dev --ignore-scripts --no-fund --no-audit --prefer-offline "n8n@${N8N_VERSION}" >/dev/null
(cd "$(npm root -g)/n8n" && npm rebuild sqlite3 >/dev/null 2>&1 || true)
rm -rf /tmp/*
