#!/usr/bin/env bash
# Builds exakat_lock with the Dockerfiles in this folder and packs each .so
# as a release asset that PIE (the PHP Installer for Extensions) picks for a
# PHP by name:
#
#   php_exakat_lock-{tag}_php{X.Y}-{arch}-linux-{glibc|musl}[-debug][-zts].tgz
#
# each holding exakat_lock.so at its root, the whole name in lower case as
# PIE spells it. {tag} is the release's git tag exactly as pushed (PIE takes
# the version as Composer reports it, and Composer keeps a tag's spelling:
# tag v0.1.0 gives php_exakat_lock-v0.1.0_...). It is -t TAG, else the tag
# on the checkout's HEAD, else the version the extension reports (0.1.0); a
# tag that names another version than the extension's is refused.
#
# Usage (from anywhere):
#   docker/pie-assets.sh [-o DIR] [-t TAG] [-l glibc|musl] [PHP_VERSION ...]
#       builds php:X.Y-cli (glibc) and php:X.Y-cli-alpine (musl) variants,
#       default PHP 8.2 8.4 (the versions tested, see README), both libcs
#       (-l, repeatable, narrows it)
#   docker/pie-assets.sh [-o DIR] [-t TAG] --from-image IMAGE ...
#       packs images already built from docker/Dockerfile or Dockerfile.alpine
#
# Everything about an asset's name (PHP version, NTS/ZTS, debug, arch, libc)
# is read from the built image itself, never assumed from the build arguments.
#
# glibc assets are linked against the symbol versions of glibc $GLIBC_FLOOR
# (cargo-zigbuild in the Dockerfile's build stage), and each asset's .so is
# checked with `objdump -T`: one that needs a newer glibc is refused.
#
# Environment:
#   GLIBC_FLOOR       the oldest glibc the glibc assets load on (default
#                     2.28: Debian 10, RHEL 8, Ubuntu 18.10)
#   CONTAINER_ENGINE  the engine command, flags allowed (default: docker, or
#                     podman when there is no docker)
#   BUILD_FLAGS       more flags for every build, e.g.
#                     "--build-arg RUST_IMAGE=my/rust:1.90"
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$ROOT/dist"
tag=""
libcs=()
images=()
from_image=0

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
    case $1 in
        -o) out=$2; shift 2 ;;
        -t) tag=$2; shift 2 ;;
        -l) libcs+=("$2"); shift 2 ;;
        --from-image) from_image=1; shift ;;
        -h|--help) usage ;;
        -*) echo "unknown option $1" >&2; usage ;;
        *) images+=("$1"); shift ;;
    esac
done

if [ -n "${CONTAINER_ENGINE:-}" ]; then
    read -ra engine <<<"$CONTAINER_ENGINE"
elif command -v docker >/dev/null; then
    engine=(docker)
else
    engine=(podman)
fi
read -ra build_flags <<<"${BUILD_FLAGS:-}"
GLIBC_FLOOR=${GLIBC_FLOOR:-2.28}

git_tag=$(git -C "$ROOT" describe --tags --exact-match HEAD 2>/dev/null || true)
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The newest glibc symbol version a .so asks for (objdump -T: the dynamic
# symbols, each with the version it needs).
glibc_needed() {
    objdump -T "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -1 | grep .
}

# Packs the .so of one image; prints the asset's path.
pack() {
    local image=$1 facts php zts debug ext_dir ext_version arch libc name
    facts=$("${engine[@]}" run --rm --entrypoint php "$image" -r '
        echo PHP_MAJOR_VERSION, ".", PHP_MINOR_VERSION, " ", (int) PHP_ZTS, " ", (int) PHP_DEBUG, " ",
            PHP_EXTENSION_DIR, " ", phpversion("exakat_lock") ?: "none", " ", php_uname("m"), " ",
            glob("/lib/ld-musl-*") ? "musl" : "glibc", "\n";')
    read -r php zts debug ext_dir ext_version arch libc <<<"$facts"
    if [ "$ext_version" = none ]; then
        echo "$image does not load exakat_lock" >&2
        return 1
    fi
    # PIE's names for architectures (its Architecture enum), not uname's.
    case $arch in
        aarch64) arch=arm64 ;;
        amd64) arch=x86_64 ;;
    esac
    local release=${tag:-$git_tag}
    release=${release:-$ext_version}
    case ${release#[vV]} in
        "$ext_version") ;;
        *) echo "$image: tag $release does not match the extension's version $ext_version" >&2; return 1 ;;
    esac
    name="php_exakat_lock-${release}_php${php}-${arch}-linux-${libc}"
    [ "$debug" = 1 ] && name+="-debug"
    [ "$zts" = 1 ] && name+="-zts"
    name+=".tgz"
    name=$(printf '%s' "$name" | tr '[:upper:]' '[:lower:]')

    rm -rf "$work/asset" && mkdir "$work/asset"
    "${engine[@]}" run --rm --entrypoint cat "$image" "$ext_dir/exakat_lock.so" >"$work/asset/exakat_lock.so"
    chmod 0755 "$work/asset/exakat_lock.so"
    if [ "$(head -c4 "$work/asset/exakat_lock.so" | od -An -c | tr -d ' ')" != '177ELF' ]; then
        echo "$image: $ext_dir/exakat_lock.so is not an ELF file" >&2
        return 1
    fi
    if [ "$libc" = glibc ]; then
        local needed
        needed=$(glibc_needed "$work/asset/exakat_lock.so") || return 1
        if [ "$(printf '%s\n' "$needed" "$GLIBC_FLOOR" | sort -V | tail -1)" != "$GLIBC_FLOOR" ]; then
            echo "$image: exakat_lock.so needs glibc $needed, newer than the floor $GLIBC_FLOOR" >&2
            return 1
        fi
        echo "$name: needs glibc $needed or newer (floor $GLIBC_FLOOR)" >&2
    fi
    # Fixed owner and time, and no name or time in the gzip header, so that
    # the same .so always gives the same asset.
    tar -C "$work/asset" --owner=0 --group=0 --numeric-owner --mtime='2000-01-01 00:00Z' -cf - exakat_lock.so \
        | gzip -9n >"$out/$name"
    echo "$out/$name"
}

if [ "$from_image" = 1 ]; then
    [ ${#images[@]} -gt 0 ] || usage
    for image in "${images[@]}"; do pack "$image"; done
    exit 0
fi

versions=("${images[@]}")
[ ${#versions[@]} -gt 0 ] || versions=(8.2 8.4)
[ ${#libcs[@]} -gt 0 ] || libcs=(glibc musl)
for version in "${versions[@]}"; do
    for libc in "${libcs[@]}"; do
        floor=()
        case $libc in
            glibc) dockerfile="$ROOT/docker/Dockerfile" floor=(--build-arg "GLIBC_FLOOR=$GLIBC_FLOOR") ;;
            musl) dockerfile="$ROOT/docker/Dockerfile.alpine" ;;
            *) echo "unknown libc $libc (glibc or musl)" >&2; exit 2 ;;
        esac
        image="localhost/exakat_lock-pie:php${version}-${libc}"
        "${engine[@]}" build -f "$dockerfile" --build-arg "PHP_VERSION=$version" "${floor[@]}" "${build_flags[@]}" \
            -t "$image" "$ROOT" >&2
        pack "$image"
    done
done
