#!/usr/bin/env bash
# `composer validate --strict` on composer.json, stubs/composer.json and the
# framework packages (frameworks/*/composer.json) with a current Composer.
# PIE's `download-url-method` list form is valid from Composer 2.11 on;
# Debian 12's Composer (2.5) and trixie's (2.8) reject it, and Composer's
# own phar is not reachable from every machine that runs the
# tests, while Debian's archive is. So this takes Debian sid's `composer`
# package and the PHP libraries it depends on, unpacks them (never installs
# them: sid packages would replace the host's PHP 8.2 setup), and runs them
# with the host's PHP.
#
# Downloads once into a private apt state and cache under
# $EXAKAT_LOCK_COMPOSER_CACHE (default /var/cache/exakat_lock/composer); a
# second run reuses the unpacked tree without touching the network.
# Set EXAKAT_LOCK_COMPOSER_REFRESH=1 to fetch sid's current packages again.
#
# Usage: scripts/composer-validate.sh [composer validate options]
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CACHE=${EXAKAT_LOCK_COMPOSER_CACHE:-/var/cache/exakat_lock/composer}
TREE="$CACHE/root"
# The oldest Composer that accepts composer.json as it is written.
MIN_VERSION=2.11.0

need_packages php-cli apt ca-certificates
mkdir -p "$CACHE"

# Everything sid's composer needs except PHP itself and its extensions,
# which the host provides (Composer runs without the recommended ones).
# Symfony's console lays out error messages with mbstring and intl, which
# the host's PHP may lack (Debian 12's php-cli has neither): Symfony's
# pure-PHP stand-ins for them are loaded before Composer, and define only
# what the host's PHP does not have.
polyfills=(mbstring intl-normalizer intl-grapheme)
prepend="$CACHE/polyfills.php"
from_host=" php-cli php-common php-json php-mbstring php-curl php-intl php-zip ca-certificates "

# Symfony/Polyfill/Mbstring, Symfony/Polyfill/Intl/Normalizer...
polyfill_dir() {
    local dir="" part
    IFS=- read -ra parts <<<"$1"
    for part in "${parts[@]}"; do dir+="${dir:+/}${part^}"; done
    echo "$dir"
}

fetch_composer() {
    local apt="$CACHE/apt" mirror
    mirror=$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/preferences.d"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror:-http://deb.debian.org/debian} sid main" \
        >"$apt/sources.list"
    # A private configuration: the host's sources, state and cache are never
    # read or written, so nothing of sid can reach the host's package set.
    cat >"$apt/apt.conf" <<EOF
Dir::Etc::SourceList "$apt/sources.list";
Dir::Etc::SourceParts "$apt/sources.list.d";
Dir::Etc::Preferences "$apt/preferences";
Dir::Etc::PreferencesParts "$apt/preferences.d";
Dir::State::Lists "$apt/lists";
Dir::State::Status "/dev/null";
Dir::Cache "$apt";
Dir::Cache::Archives "$apt/archives";
// Downloads land in a root-owned cache: no _apt sandbox user to hand them to.
APT::Sandbox::User "root";
EOF
    say "composer: reading Debian sid's package index"
    apt-get -c "$apt/apt.conf" -qq update

    # composer's Depends, followed through PHP libraries only.
    local todo=(composer "${polyfills[@]/#/php-symfony-polyfill-}") seen=" " pkg dep
    local wanted=()
    while [ ${#todo[@]} -gt 0 ]; do
        pkg=${todo[0]}
        todo=("${todo[@]:1}")
        case "$seen$from_host" in *" $pkg "*) continue ;; esac
        case $pkg in php[0-9]*) continue ;; esac
        seen+="$pkg "
        wanted+=("$pkg")
        while read -r dep; do todo+=("$dep"); done < <(
            apt-cache -c "$apt/apt.conf" show --no-all-versions "$pkg" \
                | sed -n 's/^\(Pre-\)\{0,1\}Depends: //p' | tr ',' '\n' \
                | sed 's/|.*//; s/(.*//; s/:any//; s/ //g' | grep .)
    done

    say "composer: downloading ${wanted[*]}"
    rm -rf "$CACHE/debs" "$TREE.new"
    mkdir -p "$CACHE/debs" "$TREE.new"
    (cd "$CACHE/debs" && apt-get -c "$apt/apt.conf" -qq download "${wanted[@]}")
    for deb in "$CACHE/debs"/*.deb; do dpkg-deb -x "$deb" "$TREE.new"; done
    # Debian's autoloaders require each other by absolute path
    # (/usr/share/php/...): point them at the unpacked tree, never at the
    # host's own, older libraries of the same names.
    grep -rlZ --include='*.php' -e /usr/share/php/ "$TREE.new" \
        | xargs -0 -r sed -i "s#/usr/share/php/#$TREE/usr/share/php/#g"
    sed -i "s#/usr/share/php/#$TREE/usr/share/php/#g" "$TREE.new/usr/bin/composer"
    rm -rf "$TREE" && mv "$TREE.new" "$TREE"
    rm -rf "$CACHE/debs"
    {
        echo '<?php'
        for name in "${polyfills[@]}"; do
            echo "require_once '$TREE/usr/share/php/Symfony/Polyfill/$(polyfill_dir "$name")/autoload.php';"
        done
    } >"$prepend"
}

# The prepend file is written last: with it, the tree is complete.
if [ ! -f "$prepend" ] || [ "${EXAKAT_LOCK_COMPOSER_REFRESH:-0}" = 1 ]; then
    fetch_composer
fi

# Debian's packages find each other through include_path (/usr/share/php);
# here that is the unpacked tree, and only it, so no library of the host's
# own /usr/share/php is mixed in.
composer() {
    COMPOSER_HOME="$CACHE/home" COMPOSER_NO_INTERACTION=1 COMPOSER_ALLOW_SUPERUSER=1 \
        php -d include_path=".:$TREE/usr/share/php" -d auto_prepend_file="$prepend" \
            "$TREE/usr/bin/composer" --no-ansi "$@"
}

version=$(composer --version 2>/dev/null | sed -n 's/^Composer version \([0-9.]*\).*/\1/p' || true)
if [ -z "$version" ]; then
    composer --version >&2 || true
    say "composer: sid's Composer does not run with $(php -r 'echo PHP_VERSION;')"
    exit 1
fi
printf '%s\n%s\n' "$MIN_VERSION" "$version" | sort -V -C \
    || { say "composer: $version is older than $MIN_VERSION, which PIE's composer.json needs"; exit 1; }

status=0
for manifest in "$ROOT/composer.json" "$ROOT/stubs/composer.json" "$ROOT"/frameworks/*/composer.json; do
    [ -f "$manifest" ] || continue
    say "composer $version: validate --strict ${manifest#"$ROOT"/}"
    composer validate --strict "$@" "$manifest" || status=1
done
exit $status
