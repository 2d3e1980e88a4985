#!/usr/bin/env bash
# Build the four targets of deploy/docker/Dockerfile with Podman (or Docker), print each image's size, and
# fail when an image has no HEALTHCHECK or the edge image is 400 MB or more.
#   deploy/ci/build-images.sh [TAG]      (from anywhere; TAG defaults to "ci"; SKIP_BUILD=1 only checks)
# Podman quirks handled here (see ../shared/containers/README.md): --format docker keeps HEALTHCHECK,
# --no-cache avoids Buildah's empty bind mount from a cached builder stage, --pull=never uses the local
# base images, and the host CA + pip.conf let pip inside the build trust the package index's TLS proxy.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
tag="${1:-ci}"
engine="${CONTAINER_ENGINE:-$(command -v podman || command -v docker || true)}"
[ -n "$engine" ] || { echo "build-images: no container engine (podman or docker) found" >&2; exit 2; }
shared="${EDGEWATCH_SHARED_CONTAINERS:-$repo/../shared/containers}"
edge_limit_mb="${EDGE_IMAGE_LIMIT_MB:-400}"

build_args=(--file "$repo/deploy/docker/Dockerfile")
if [ "$(basename "$engine")" = podman ]; then
  build_args+=(--format docker --no-cache --pull=never --network host)
  [ -r /etc/ssl/certs/ca-certificates.crt ] \
    && build_args+=(-v /etc/ssl/certs/ca-certificates.crt:/run/host-ca/ca-certificates.crt:ro)
  [ -r "$shared/pip-build.conf" ] && build_args+=(-v "$(cd "$shared" && pwd)/pip-build.conf:/etc/pip.conf:ro")
fi

status=0
for target in edge cloud camera alarm; do
  image="edgewatch-$target:$tag"
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    start=$SECONDS
    log="$(mktemp)"
    if ! nice -n 10 "$engine" build "${build_args[@]}" --target "$target" -t "$image" "$repo" >"$log" 2>&1; then
      tail -40 "$log"; rm -f "$log"
      echo "build-images: building $target FAILED" >&2
      exit 1
    fi
    rm -f "$log"
    echo "built $image in $((SECONDS - start)) s"
  fi
  bytes="$("$engine" image inspect --format '{{.Size}}' "$image")"
  health="$("$engine" image inspect --format '{{json .Config.Healthcheck}}' "$image")"
  mb=$((bytes / 1000000))
  echo "image size: $image $mb MB ($bytes bytes)"
  if [ -z "$health" ] || [ "$health" = null ] || [ "$health" = "{}" ]; then
    echo "FAIL: $image has no HEALTHCHECK" >&2; status=1
  fi
  if [ "$target" = edge ] && [ "$mb" -ge "$edge_limit_mb" ]; then
    echo "FAIL: the edge image is $mb MB, the budget is < $edge_limit_mb MB" >&2; status=1
  fi
done
# Issue 15's replicated topology (docker-compose.replicas.yml): PostgreSQL and HAProxy from Debian's packages,
# built from their own small context.
replicas_args=()
if [ "$(basename "$engine")" = podman ]; then replicas_args+=(--format docker --no-cache --pull=never --network host); fi
for target in postgres lb; do
  image="edgewatch-$target:$tag"
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    start=$SECONDS
    log="$(mktemp)"
    if ! nice -n 10 "$engine" build "${replicas_args[@]}" --target "$target" -t "$image" \
        "$repo/deploy/docker/replicas" >"$log" 2>&1; then
      tail -40 "$log"; rm -f "$log"
      echo "build-images: building $target FAILED" >&2
      exit 1
    fi
    rm -f "$log"
    echo "built $image in $((SECONDS - start)) s"
  fi
  bytes="$("$engine" image inspect --format '{{.Size}}' "$image")"
  health="$("$engine" image inspect --format '{{json .Config.Healthcheck}}' "$image")"
  echo "image size: $image $((bytes / 1000000)) MB ($bytes bytes)"
  if [ -z "$health" ] || [ "$health" = null ] || [ "$health" = "{}" ]; then
    echo "FAIL: $image has no HEALTHCHECK" >&2; status=1
  fi
done
exit $status
