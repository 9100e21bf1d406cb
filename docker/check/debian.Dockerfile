# Debian's own PHP packages, CLI and FPM, as a user's Debian- or Ubuntu-based
# image has them: the base docker/check.sh builds docker/Dockerfile on with
# BASE_IMAGE, to check that the extension is enabled the way Debian enables
# its extensions (mods-available and phpenmod), so that FPM loads it too.
# php8.4-dev is installed as such a user would install it: PHP's headers,
# php-config and phpize, which the Dockerfile's build stage needs.
ARG DEBIAN_IMAGE=localhost/debian:trixie
FROM ${DEBIAN_IMAGE}
ARG PHP=8.4
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends "php${PHP}-cli" "php${PHP}-fpm" "php${PHP}-dev" ca-certificates \
    && rm -rf /var/lib/apt/lists/*
CMD ["php", "-a"]
