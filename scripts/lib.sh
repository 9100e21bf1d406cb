# Shared by the scripts: where things are, and how to install what is missing.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build"
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs Debian packages that are not installed yet; a no-op when all are.
need_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The build needs PHP's headers and php-config, libclang for bindgen, a C
# compiler (also for ring, the mysql backend's TLS crypto), and a Rust
# toolchain new enough for ext-php-rs (1.88+: Debian's is older).
need_build_tools() {
    need_packages php-cli php-dev clang libclang-dev gcc libc6-dev
    if ! command -v cargo >/dev/null; then
        say "no Rust toolchain: install one with rustup (https://rustup.rs), then run this again"
        exit 1
    fi
}

# The .so, built in release mode and named as PHP's --EXTENSIONS-- expects.
build_extension() {
    need_build_tools
    say "building exakat_lock.so and the exakat-lock command"
    (cd "$ROOT" && cargo build --release --locked -p exakat_lock -p exakat-lock-core --lib --bin exakat-lock >&2)
    mkdir -p "$BUILD"
    # install(1) writes a new file: PHP processes still running the old one keep their mapping.
    install -m 755 "$ROOT/target/release/libexakat_lock.so" "$BUILD/exakat_lock.so"
    install -m 755 "$ROOT/target/release/exakat-lock" "$BUILD/exakat-lock"
}

# PHP with the freshly built extension and nothing else (-n: no php.ini).
php_with_extension() {
    php -n -d extension_dir="$BUILD" -d extension=exakat_lock "$@"
}
