#!/usr/bin/env bash
# Build the lab images (no registry reachable here). Each image is tagged with a hash of its build folder
# (and of its parent's tag), and built only when that tag is missing, so a warm machine builds nothing.
# After the base, the images are built in parallel lanes (LAB_BUILD_LANES=1 builds one at a time): a build waits mostly on the
# network and the disk, and the two npm images (n8n, Flowise) are the long poles, so each gets a lane of its own.
# Usage: lab/build.sh [image ...]   (default: every image)
#        LAB_REBUILD=1                build the images named even when their tag exists (not their parents)
#        LAB_CACHE_PREFIX=<name>      the npm and pip cache volumes are <name>-npm-cache and <name>-pip-cache
#                                     (default aiplatform-lab)
#        LAB_CORE_READY=<file>        touch that file as soon as every image but the late ones (Node, n8n, Flowise,
#                                     Open WebUI) is built: scripts/test.sh starts the engine tests that need none then
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

# <image>-previous: <image>'s folder built at the older release that images/<image>-previous/PREVIOUS names
# (`OPEN_WEBUI_VERSION=0.12.0`), tagged aiplatform-lab/<image>:<that release> too: an upgrade from it to the pinned
# release runs the application's real migrations in the engine tests.
folder_of() { echo "${1%-previous}"; }
previous_of() {  # `<NAME>_VERSION=<release>` of an <image>-previous (nothing for another image)
  [[ $1 == *-previous ]] || return 0
  grep -E '^[A-Z0-9_]+_VERSION=[^ ]+$' "$here/images/$1/PREVIOUS" \
    || { echo "lab/images/$1/PREVIOUS must hold one <NAME>_VERSION=<release> line" >&2; exit 2; }
}

parent_of() {
  case $(folder_of "$1") in
    n8n|flowise) echo node ;;
    postgres|redis|standin|litellm|openwebui|node|nginx|squid|host|ee-base|caddy|pebble|restic|rest-server) echo base ;;
    *) echo "unknown lab image: $1" >&2; exit 2 ;;
  esac
}

tag_of() {  # name: the content tag, from the folder and the parent's tag (computed, so a lane needs no shared state)
  local name=$1
  [ "$name" = base ] && { echo "${TAG[base]}"; return; }
  local words; words=$(tag_of "$(parent_of "$name")")
  [[ $name != *-previous ]] || words+=" $(previous_of "$name")"  # (an image's own tag stays what it was)
  echo "aiplatform-lab/$name:$(content_hash "$here/images/$(folder_of "$name")" "$words")"
}

# The machine's npm and pip caches, shared by every build that installs from those registries (the legacy builder
# cannot mount a cache into a RUN step): a rebuild or a second release fetches only what changed.
cache=${LAB_CACHE_PREFIX:-aiplatform-lab}
CACHES=(-v "$cache-npm-cache:/root/.npm" -v "$cache-pip-cache:/root/.cache/pip")

install_layer() {  # name parent_tag tag log: run the folder's install.sh on the parent with the caches mounted, commit
  # the result and print its tag (the Dockerfile's BASE). The Dockerfile's ARG <NAME>_VERSION=<release> lines are
  # passed to it as environment variables, so the release stays pinned in one place.
  local name=$1 parent=$2 tag=$3 out=$4 dir="$here/images/$(folder_of "$1")" cid env=() kv
  while read -r kv; do env+=(-e "$kv"); done < <(sed -nE 's/^ARG ([A-Z0-9_]+_VERSION)=(\S+)$/\1=\2/p' "$dir/Dockerfile")
  [ -z "$(previous_of "$name")" ] || env+=(-e "$(previous_of "$name")")  # (the later -e wins)
  cid=$(docker create "${CACHES[@]}" -v "$dir:/lab:ro" "${env[@]}" "$parent" bash /lab/install.sh) || return 1
  docker start -a "$cid" >"$out" 2>&1 || { docker rm "$cid" >/dev/null; return 1; }
  docker commit "$cid" "$tag-installed" >/dev/null && docker rm "$cid" >/dev/null && echo "$tag-installed"
}

build_image() {  # name: build it unless its tag exists, then point :current at it
  local name=$1 tag parent_tag
  tag=$(tag_of "$name"); parent_tag=$(tag_of "$(parent_of "$name")")
  if { [ "${LAB_REBUILD:-}" = 1 ] && [[ " ${want[*]} " == *" $name "* ]]; } || ! docker image inspect "$tag" >/dev/null 2>&1; then
    log "building $name"
    local t0=$SECONDS out
    out=$(mktemp /tmp/aiplatform-lab-build.XXXX)
    local dir="$here/images/$(folder_of "$name")" previous; previous=$(previous_of "$name")
    if [ -f "$dir/install.sh" ]; then
      parent_tag=$(install_layer "$name" "$parent_tag" "$tag" "$out") \
        || { tail -n 30 "$out" >&2; rm -f "$out"; log "$name FAILED (install.sh)"; return 1; }
    fi
    DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$parent_tag" --build-arg "MIRROR=$(mirror)" \
      ${previous:+--build-arg "$previous"} -t "$tag" "$dir" >"$out" 2>&1 \
      || { tail -n 30 "$out" >&2; rm -f "$out"; log "$name FAILED"; return 1; }
    rm -f "$out"
    log "$name built in $((SECONDS - t0)) s"
  fi
  docker tag "$tag" "aiplatform-lab/$name:current"
  [ -z "$(previous_of "$name")" ] || docker tag "$tag" "aiplatform-lab/$(folder_of "$name"):$(previous_of "$name" | cut -d= -f2)"
}

lane() {  # images built one after the other
  local img
  for img in "$@"; do build_image "$img" || return 1; done
}

want=("$@"); [ ${#want[@]} -gt 0 ] || want=(postgres redis litellm openwebui openwebui-previous standin nginx squid host n8n flowise caddy pebble restic rest-server)
for img in "${want[@]}"; do [ "$img" = base ] || parent_of "$img" >/dev/null; done
t0=$SECONDS
build_base
docker tag "${TAG[base]}" aiplatform-lab/base:current
# Lanes, all at once: the npm images each in a lane of their own once Node is built (both need it), the pip images
# (LiteLLM, then Open WebUI) in one, the Debian-package images in another. The "late" images (the npm ones and Open
# WebUI, the longest pip install) are needed only by the engine tests that run last: LAB_CORE_READY is written as
# soon as the others are built.
npm_images=(); pip_images=(); late_pip=(); other=()
for img in "${want[@]}"; do
  case $img in
    base) ;;
    n8n|flowise) npm_images+=("$img") ;;
    openwebui|openwebui-previous) late_pip+=("$img") ;;
    litellm) pip_images+=("$img") ;;
    *) other+=("$img") ;;
  esac
done
npm_lanes() {
  local img pids=() rc=0
  build_image node || return 1
  for img in "${npm_images[@]}"; do lane "$img" & pids+=($!); done
  for img in "${pids[@]}"; do wait "$img" || rc=1; done
  return $rc
}
core_ready() {  # every image but the late ones is built: say so in LAB_CORE_READY (a file), when it is given
  [ -z "${LAB_CORE_READY:-}" ] || touch "$LAB_CORE_READY"
  log "lab images but the late ones (Node, n8n, Flowise, Open WebUI) ready in $((SECONDS - t0)) s"
}
core_lanes() {  # then the late pip images, in the lane the core pip images used
  local pids=() pid rc=0
  lane "${pip_images[@]}" & pids+=($!)
  lane "${other[@]}" & pids+=($!)
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  [ $rc -ne 0 ] || core_ready
  [ $rc -ne 0 ] || lane "${late_pip[@]}" || rc=1
  return $rc
}
if [ "${LAB_BUILD_LANES:-}" = 1 ]; then
  lane "${pip_images[@]}" "${other[@]}"
  core_ready
  [ ${#npm_images[@]} -eq 0 ] || build_image node
  lane "${npm_images[@]}" "${late_pip[@]}"
else
  pids=()
  [ ${#npm_images[@]} -eq 0 ] || { npm_lanes & pids+=($!); }
  core_lanes & pids+=($!)
  failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" -eq 0 ] || { echo "a lab image failed to build (see above)" >&2; exit 1; }
fi
log "lab images ready in $((SECONDS - t0)) s: ${want[*]}"
