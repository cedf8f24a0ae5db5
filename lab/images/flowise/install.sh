#!/usr/bin/env bash
# Install Flowise from the npm registry (run by lab/build.sh with the machine's npm cache mounted at /root/.npm).
set -euo pipefail
export PUPPETEER_SKIP_DOWNLOAD=true PUPPETEER_SKIP_CHROMIUM_DOWNLOAD=true
npm install -g --omit=dev --ignore-scripts --no-fund --no-audit --prefer-offline "flowise@${FLOWISE_VERSION}" >/dev/null
rm -rf /tmp/*
