#!/bin/sh
# One-shot enrolment of known persons into the edgewatch cloud (run in the cloud image by the `enrol`
# compose service, before the cloud starts). Idempotent: a marker per enrolled person is kept next to the
# face store, so restarting the stack does not enrol anyone twice.
#
#   enrol.sh [KNOWN_DIR]     (default /known)
#     KNOWN_DIR/<name>.jpg|.jpeg|.png     one photo of <name>
#     KNOWN_DIR/<name>/*.jpg|.jpeg|.png   several photos of <name>
#
# Target: the local backend's SQLite store (`edgewatch persons --db $EDGEWATCH_DB_PATH ...`, no server
# needed), or, when EDGEWATCH_ENROL_URL is set, a running cloud (`--url`, any backend, e.g. Rekognition;
# the bearer token comes from the environment).
set -eu

known_dir="${1:-/known}"
db_path="${EDGEWATCH_DB_PATH:-/app/data/faces.db}"
if [ -n "${EDGEWATCH_ENROL_URL:-}" ]; then
    target_option=--url
    target="${EDGEWATCH_ENROL_URL}"
    marker_dir="$(dirname "$db_path")/enrolled-remote"
else
    target_option=--db
    target="$db_path"
    marker_dir="$(dirname "$db_path")/enrolled"
fi

if [ ! -d "$known_dir" ]; then
    echo "enrol: no folder $known_dir; nobody enrolled" >&2
    exit 0
fi
mkdir -p "$marker_dir"

is_photo() {
    case "$1" in
        *.jpg | *.jpeg | *.png | *.JPG | *.JPEG | *.PNG) return 0 ;;
        *) return 1 ;;
    esac
}

enrolled=0
for entry in "$known_dir"/*; do
    [ -e "$entry" ] || continue
    set --
    if [ -d "$entry" ]; then
        name="$(basename "$entry")"
        for photo in "$entry"/*; do
            if is_photo "$photo"; then
                set -- "$@" "$photo"
            fi
        done
    elif is_photo "$entry"; then
        file="$(basename "$entry")"
        name="${file%.*}"
        set -- "$entry"
    fi
    [ "$#" -gt 0 ] || continue
    if [ -e "$marker_dir/$name" ]; then
        echo "enrol: $name already enrolled"
        continue
    fi
    echo "enrol: $name ($# photo(s)) -> $target"
    attempt=1
    # A cloud still warming up (or a replica going away behind a load balancer) fails a request now and
    # then: try again, and treat an earlier attempt whose answer was lost but which did land as done.
    until edgewatch persons "$target_option" "$target" add "$name" "$@"; do
        if edgewatch persons "$target_option" "$target" list 2>/dev/null | cut -f1 | grep -qxF "$name"; then
            break
        fi
        if [ "$target_option" = --db ] || [ "$attempt" -ge 5 ]; then  # a local store does not heal by waiting
            echo "enrol: could not enrol $name after $attempt attempts" >&2
            exit 1
        fi
        attempt=$((attempt + 1))
        sleep 3
    done
    touch "$marker_dir/$name"
    enrolled=$((enrolled + 1))
done
echo "enrol: $enrolled person(s) enrolled from $known_dir"
