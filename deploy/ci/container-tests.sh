#!/usr/bin/env bash
# CI stage "containers" (issue 14): build the four images and run them for real.
#   1. the engine: Podman from ../shared/containers/ (setup-engine.sh, make-base-images.sh; both skip what
#      exists) when podman is missing; with no engine to be had, one line says so and the stage passes.
#   2. deploy/ci/build-images.sh: builds, prints every image's size, fails on a missing HEALTHCHECK or an
#      edge image of 400 MB or more.
#   3. tests/deploy/containers (pytest): (a) podman run enrol → cloud → edge → alarm + camera, (b) compose up
#      of the full topology for about a minute, with the site-isolation checks.
# Container traffic stays local: the egress guard is on while containers run and off afterwards; every
# container, network and volume the tests create is named ewci-* and removed, even on failure.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
shared="${EDGEWATCH_SHARED_CONTAINERS:-$repo/../shared/containers}"
export EDGEWATCH_TAG="${EDGEWATCH_TAG:-ci}"
step() { echo "--- containers: $1 ($((SECONDS)) s into the stage)"; }

if ! command -v podman >/dev/null 2>&1; then
  if [ -x "$shared/setup-engine.sh" ] && [ "$(id -u)" = 0 ]; then
    step "setting up Podman with $shared/setup-engine.sh"
    "$shared/setup-engine.sh"
  fi
fi
if ! command -v podman >/dev/null 2>&1 || ! podman info >/dev/null 2>&1; then
  echo "containers: SKIPPED: no container engine here (podman missing or not working, and no" \
       "$shared/setup-engine.sh to install it)"
  exit 0
fi
if [ -x "$shared/make-base-images.sh" ]; then
  step "base images ($shared/make-base-images.sh skips what exists)"
  nice -n 10 "$shared/make-base-images.sh"
fi

step "building the images"
"$repo/deploy/ci/build-images.sh" "$EDGEWATCH_TAG"

guard="$shared/egress-guard.sh"
cleanup() {
  # by name: whatever a killed test run left behind
  for c in $(podman ps -a --format '{{.Names}}' | grep '^ewci-' || true); do podman rm -f -t 5 "$c" >/dev/null 2>&1 || true; done
  for n in $(podman network ls --format '{{.Name}}' | grep '^ewci-' || true); do podman network rm -f "$n" >/dev/null 2>&1 || true; done
  for v in $(podman volume ls --format '{{.Name}}' | grep '^ewci-' || true); do podman volume rm -f "$v" >/dev/null 2>&1 || true; done
  if [ -x "$guard" ]; then "$guard" off; fi
}
trap cleanup EXIT
if [ -x "$guard" ]; then "$guard" on; else echo "containers: no egress guard script at $guard"; fi

step "running the images (tests/deploy/containers)"
cd "$repo"
EDGEWATCH_CONTAINER_TESTS=1 python -m pytest -q -p no:cacheprovider -o addopts="--import-mode=importlib" \
  --timeout 1500 -rs -s tests/deploy/containers
