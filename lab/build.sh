#!/usr/bin/env bash
# Build the lab images (no registry reachable here). Each image is tagged with a hash of its build folder
# (and of its parent's tag), and built only when that tag is missing, so a warm machine builds nothing.
# Usage: lab/build.sh [image ...]   (default: every image)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log() { printf '[%s] [INFO] [lab] %s\n' "$(date '+%F %T')" "$*"; }

mirror() {
  # The host's own Debian mirror, read from its apt sources (never hard-coded).
  local uri
  uri=$(grep -rhoE '^(URIs:|deb) +[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
        | awk '{print $2}' | grep -E '/debian/?$' | head -n1)
  [ -n "$uri" ] || { echo "no Debian mirror in /etc/apt/sources*" >&2; exit 1; }
  echo "$uri"
}

content_hash() {  # hash of a folder's files (names and bytes) plus extra words
  local dir=$1; shift
  { (cd "$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum); echo "$*"; } | sha256sum | cut -c1-12
}

declare -A TAG
build_base() {
  local h; h=$(content_hash "$here/images/base" "$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum)")
  TAG[base]="aiplatform-lab/base:$h"
  docker image inspect "${TAG[base]}" >/dev/null 2>&1 && { log "base ${TAG[base]} cached"; return; }
  command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap >/dev/null; }
  local root; root=$(mktemp -d /tmp/aiplatform-base.XXXX)
  log "debootstrap bookworm into $root"
  debootstrap --variant=minbase bookworm "$root" "$(mirror)" >/tmp/aiplatform-debootstrap.log 2>&1 \
    || { tail -20 /tmp/aiplatform-debootstrap.log >&2; exit 1; }
  bash "$here/images/base/customize.sh" "$root"
  tar -C "$root" -c . | docker import \
    -c 'ENV LANG=C.UTF-8 REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    -c 'CMD ["/bin/bash"]' - "${TAG[base]}" >/dev/null
  rm -rf "$root"
  log "base ${TAG[base]} built"
}

build_image() {  # name parent
  local name=$1 parent=$2 h
  h=$(content_hash "$here/images/$name" "${TAG[$parent]}")
  TAG[$name]="aiplatform-lab/$name:$h"
  if ! docker image inspect "${TAG[$name]}" >/dev/null 2>&1; then
    log "building $name"
    local t0=$SECONDS
    DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=${TAG[$parent]}" --build-arg "MIRROR=$(mirror)" -t "${TAG[$name]}" "$here/images/$name" >/dev/null
    log "$name built in $((SECONDS - t0)) s"
  fi
  docker tag "${TAG[$name]}" "aiplatform-lab/$name:current"
}

want=("$@"); [ ${#want[@]} -gt 0 ] || want=(postgres redis litellm openwebui standin nginx squid host n8n flowise caddy pebble)
t0=$SECONDS
build_base
docker tag "${TAG[base]}" aiplatform-lab/base:current
for img in "${want[@]}"; do
  case $img in
    base) ;;
    postgres|redis|standin|litellm|openwebui|node|nginx|squid|host|ee-base|caddy|pebble) build_image "$img" base ;;
    n8n|flowise) build_image node base; build_image "$img" node ;;
    *) echo "unknown lab image: $img" >&2; exit 2 ;;
  esac
done
log "lab images ready in $((SECONDS - t0)) s: ${want[*]}"
