#!/usr/bin/env bash
# What the shared npm and pip caches save: each lab image given is built twice in a row, first with empty caches
# (as on a fresh machine), then again with the caches the first build filled (a rebuild, or a second release of the
# same application). Throwaway cache volumes are used, so the machine's own caches are left as they are.
# Usage: bench/lab_cache.sh [image ...]   (default: litellm openwebui)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
images=("$@"); [ ${#images[@]} -gt 0 ] || images=(litellm openwebui)
prefix=aiplatform-lab-bench
build() {  # images...: print the seconds one build of them took
  local t0=$SECONDS
  LAB_REBUILD=1 LAB_BUILD_LANES=1 LAB_CACHE_PREFIX=$prefix bash "$root/lab/build.sh" "$@" >&2 || return 1
  echo $((SECONDS - t0))
}
docker volume rm -f "$prefix-npm-cache" "$prefix-pip-cache" >/dev/null
cold=$(build "${images[@]}") || { echo "the build failed" >&2; exit 1; }
warm=$(build "${images[@]}") || { echo "the build failed" >&2; exit 1; }
docker volume rm -f "$prefix-npm-cache" "$prefix-pip-cache" >/dev/null
printf '| images | empty caches | warm caches | ratio |\n|---|---|---|---|\n| %s | %s s | %s s | %.2f |\n' \
  "${images[*]}" "$cold" "$warm" "$(awk "BEGIN {print $warm / $cold}")"
