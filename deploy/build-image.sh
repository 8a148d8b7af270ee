#!/usr/bin/env bash
# Build the recalld container image (Containerfile) with buildah: no Docker engine and no
# container registry needed. Called by `make image`; run from anywhere, as root.
#
#   1. buildah (and mmdebstrap) are installed with apt-get when missing;
#   2. the base: with BASE unset, Debian bookworm with python3 made by mmdebstrap from Debian's
#      apt repositories, cached as build/image/base-<recipe hash>.tar and imported once as the
#      local image localhost/recalld-base:<hash>; with BASE set (a registry is reachable, e.g.
#      BASE=python:3.11-slim-bookworm) that image is used and no base is made;
#   3. the wheelhouse build/image/wheels: recalld, recalld-client and their runtime dependencies
#      (not the dev extra), pinned to the versions installed in .venv, built from a clean export
#      of the working tree (tracked and untracked-but-not-ignored files: no stale build/lib), and
#      completed for the base's Python version (deploy/complete_wheelhouse.py);
#   4. buildah bud --isolation chroot on the vfs storage driver -> $IMAGE.
#
# Environment: IMAGE (default localhost/recalld:<version>), BASE, SUITE (bookworm), MIRROR (a Debian
# mirror for mmdebstrap, default Debian's), IMAGE_ARCHIVE (also write an OCI archive there),
# VENV (.venv). No layer cache (buildah bud --layers): vfs stores each step as a full copy of the
# filesystem, which made a rebuild twice as slow (241 s against 120 s), not faster.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENV=${VENV:-.venv}
PY=$ROOT/$VENV/bin/python
VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' pyproject.toml | head -n1)
IMAGE=${IMAGE:-localhost/recalld:$VERSION}
BASE=${BASE:-}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-}
OUT=build/image
mkdir -p "$OUT"
BUILDAH=(buildah --storage-driver vfs)

log() { printf '==> %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

T0=$(now)
ctr=""  # a working container of this script, removed however the script ends
trap '[[ -z $ctr ]] || "${BUILDAH[@]}" rm "$ctr" >/dev/null 2>&1 || true' EXIT

# IF_STALE=1 (make test): nothing to do when the image was built from this very commit and the
# tree has no changes since (its revision label says so).
if [[ -n ${IF_STALE:-} ]] && command -v buildah >/dev/null && git diff --quiet HEAD 2>/dev/null; then
    head_rev=$(git rev-parse --short=12 HEAD)
    built_rev=$("${BUILDAH[@]}" inspect --type image --format \
        '{{index .OCIv1.Config.Labels "org.opencontainers.image.revision"}}' "$IMAGE" 2>/dev/null || true)
    if [[ $built_rev == "$head_rev" ]]; then
        log "$IMAGE is up to date (revision $head_rev)"
        exit 0
    fi
fi

# --- 1. tools ----------------------------------------------------------------------------------
need=()
command -v buildah >/dev/null || need+=(buildah)
if [[ -z $BASE ]] && ! command -v mmdebstrap >/dev/null; then need+=(mmdebstrap); fi
if ((${#need[@]})); then
    if [[ $(id -u) != 0 ]]; then
        echo "missing: ${need[*]}; install them (apt-get install --no-install-recommends ${need[*]}) or run as root" >&2
        exit 1
    fi
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # buildah pulls uidmap and containers-common; with vfs neither fuse-overlayfs nor runc is needed
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [[ ! -x $PY ]]; then
    echo "no $VENV: run 'make install' first" >&2
    exit 1
fi

# --- 2. base -----------------------------------------------------------------------------------
if [[ -z $BASE ]]; then
    # Everything that decides the base's content is in the recipe, and the recipe names the file.
    # shellcheck disable=SC2054  # --include takes one comma-separated argument
    MM_ARGS=(
        --variant=apt
        --include=python3,ca-certificates
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
        '--aptopt=APT::Install-Recommends "false"'
        '--dpkgopt=path-exclude=/usr/share/doc/*'
        '--dpkgopt=path-include=/usr/share/doc/*/copyright'
        '--dpkgopt=path-exclude=/usr/share/man/*'
        '--dpkgopt=path-exclude=/usr/share/info/*'
        '--dpkgopt=path-exclude=/usr/share/locale/*'
    )
    KEY=$(printf '%s\n' "$SUITE" "$MIRROR" "${MM_ARGS[@]}" | sha1sum | cut -c1-12)
    BASE_TAR=$OUT/base-$KEY.tar
    BASE=localhost/recalld-base:$SUITE-$KEY
    if [[ ! -s $BASE_TAR ]]; then
        T=$(now)
        log "base: mmdebstrap $SUITE -> $BASE_TAR"
        # shellcheck disable=SC2086  # MIRROR is empty or one URL
        mmdebstrap --quiet --format=tar "${MM_ARGS[@]}" "$SUITE" "$BASE_TAR.part" $MIRROR
        mv "$BASE_TAR.part" "$BASE_TAR"
        find "$OUT" -maxdepth 1 -name 'base-*.tar' ! -name "base-$KEY.tar" -delete
        log "base tarball: $(du -h "$BASE_TAR" | cut -f1), $(since "$T") s"
    fi
    if ! "${BUILDAH[@]}" inspect --type image "$BASE" >/dev/null 2>&1; then
        T=$(now)
        log "base: importing $BASE_TAR as $BASE"
        ctr=$("${BUILDAH[@]}" from scratch)
        "${BUILDAH[@]}" add "$ctr" "$BASE_TAR" / >/dev/null
        "${BUILDAH[@]}" config --cmd python3 \
            --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
            --label "org.opencontainers.image.description=Debian $SUITE + python3 (mmdebstrap)" "$ctr"
        "${BUILDAH[@]}" commit --quiet --rm "$ctr" "$BASE" >/dev/null
        ctr=""
        # earlier bases (other recipes) are no longer referenced
        "${BUILDAH[@]}" images --format '{{.Name}}:{{.Tag}}' \
            | grep '^localhost/recalld-base:' | grep -vx "$BASE" \
            | xargs -r "${BUILDAH[@]}" rmi >/dev/null 2>&1 || true
        log "base image: $(since "$T") s"
    fi
fi

# The interpreter the image will run: the wheelhouse is completed for its exact version.
ctr=$("${BUILDAH[@]}" from --quiet "$BASE")
TARGET_PY=$("${BUILDAH[@]}" run --isolation chroot "$ctr" -- python3 -c 'import platform; print(platform.python_version())')
"${BUILDAH[@]}" rm "$ctr" >/dev/null
ctr=""
log "base $BASE: Python $TARGET_PY"

# --- 3. wheelhouse -----------------------------------------------------------------------------
T=$(now)
log "wheelhouse $OUT/wheels"
rm -rf "$OUT/src" "$OUT/wheels"
mkdir -p "$OUT/src" "$OUT/wheels/tools" "$OUT/wheels/deps" "$OUT/wheels/app"
git ls-files -z --cached --others --exclude-standard \
    | tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null \
    | tar -xf - -C "$OUT/src"
# The versions the tests ran with (.venv) pin the image; the dev extra is not installed.
"$PY" -m pip freeze --exclude-editable >"$OUT/constraints.txt"
"$PY" -m pip wheel -q --disable-pip-version-check --wheel-dir "$OUT/wheels/deps" \
    --constraint "$OUT/constraints.txt" "$OUT/src/client" "$OUT/src" 2> >(grep -v 'is ignored: it is neither' >&2)
mv "$OUT"/wheels/deps/recalld-*.whl "$OUT"/wheels/deps/recalld_client-*.whl "$OUT/wheels/app/"
# Markers were evaluated for the host's Python: add what the base's interpreter needs besides.
while :; do
    mapfile -t extra < <("$PY" deploy/complete_wheelhouse.py "$OUT/wheels/deps" "$OUT/wheels/app" --python "$TARGET_PY")
    ((${#extra[@]})) || break
    log "for Python $TARGET_PY also: ${extra[*]}"
    "$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        --dest "$OUT/wheels/deps" --constraint "$OUT/constraints.txt" "${extra[@]}" \
        2> >(grep -v 'is ignored: it is neither' >&2)
done
PIP_VERSION=$("$PY" -m pip --version | awk '{print $2}')
"$PY" -m pip download -q --disable-pip-version-check --no-deps --dest "$OUT/wheels/tools" "pip==$PIP_VERSION" \
    2> >(grep -v 'is ignored: it is neither' >&2)
rm -rf "$OUT/src"
log "wheelhouse: $(find "$OUT/wheels" -name '*.whl' | wc -l) wheels, $(du -sh "$OUT/wheels" | cut -f1), $(since "$T") s"

# --- 4. image ----------------------------------------------------------------------------------
T=$(now)
log "image: $IMAGE from $BASE"
REVISION=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || REVISION=$REVISION-dirty
# Offline: the base is in the store by now (imported, or pulled by `buildah from` above), and the
# build runs in a network namespace of its own with no interface up, so nothing in the
# Containerfile can download (chroot isolation has no --network none).
unshare --net "${BUILDAH[@]}" bud --isolation chroot --pull=never --layers=false --force-rm --quiet \
    --build-arg "BASE=$BASE" \
    --build-arg "VERSION=$VERSION" \
    --build-arg "REVISION=$REVISION" \
    --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -f Containerfile -t "$IMAGE" . >/dev/null
BUILD_S=$(since "$T")
# The image an earlier build tagged, now nameless: vfs keeps it as a full copy, so it goes.
"${BUILDAH[@]}" rmi --prune >/dev/null 2>&1 || true
if [[ -n ${IMAGE_ARCHIVE:-} ]]; then
    log "writing $IMAGE_ARCHIVE"
    rm -f "$IMAGE_ARCHIVE"
    "${BUILDAH[@]}" push --quiet "$IMAGE" "oci-archive:$IMAGE_ARCHIVE:$IMAGE"
fi
SIZE=$("${BUILDAH[@]}" images --format '{{.Size}}' "$IMAGE" | head -n1)
log "built $IMAGE: $SIZE (image step $BUILD_S s, total $(since "$T0") s)"
