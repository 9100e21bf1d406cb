# A stand-in for the official php:8.4-cli image, for docker/check.sh on
# machines that cannot pull from a container registry: Debian trixie (the
# official image's own base) with Debian's PHP 8.4 CLI, its headers,
# php-config, phpize and run-tests.php, and no compiler.
#
# What differs from the official image, and why it does not weaken the check:
# - Paths: /usr/lib/php/API and /etc/php/8.4/cli/conf.d instead of
#   /usr/local/...; docker/Dockerfile asks PHP for its paths either way.
# - pcntl: Debian compiles it into the CLI binary, so it cannot be left out
#   here; the phpt tests that need it run (and must pass) instead of being
#   skipped as they are on the official image.
# - The extensions the official image lacks and Debian ships as modules are
#   deleted, so sysvsem, sockets and their kin cannot even be loaded by hand.
# - Debian's phpenmod, phpdismod and phpquery are deleted once used: the
#   official image has none, and docker/Dockerfile takes phpenmod for the
#   sign of Debian's layout (debian.Dockerfile checks that one).
ARG DEBIAN_IMAGE=localhost/debian:trixie
FROM ${DEBIAN_IMAGE}
ARG PHP=8.4
WORKDIR /tmp
# php8.4-dev is unpacked rather than installed: installing it would drag in
# autoconf, libtool and the -dev packages, and the official image has PHP's
# headers and php-config without any of them.
# hadolint ignore=DL3008
RUN set -eu; \
    apt-get update; \
    apt-get install -y --no-install-recommends "php${PHP}-cli" ca-certificates; \
    apt-get download "php${PHP}-dev"; \
    dpkg-deb -x "php${PHP}-dev_"*.deb /; \
    rm "php${PHP}-dev_"*.deb; \
    ln -s "php-config${PHP}" /usr/bin/php-config; \
    ln -s "phpize${PHP}" /usr/bin/phpize; \
    for module in sysvsem sysvshm sysvmsg sockets shmop calendar exif ffi gettext; do \
        phpdismod -v ALL -s ALL "$module"; \
        rm "$(php -r 'echo PHP_EXTENSION_DIR;')/$module.so"; \
    done; \
    rm /usr/sbin/phpenmod /usr/sbin/phpdismod /usr/sbin/phpquery; \
    rm -rf /var/lib/apt/lists/*
WORKDIR /
CMD ["php", "-a"]
