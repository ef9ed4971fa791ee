#!/usr/bin/env bash
# Make the base image the deploy tests build on: no container registry is reachable
# here, so Debian bookworm is debootstrapped from Debian's package mirror and imported.
# It is what python:3.11-slim-bookworm is to a machine with a registry: Debian 12 with
# its Python 3.11 (the version the image's wheels are for). Usage: base-image.sh NAME:TAG
set -euo pipefail
image=${1:?usage: base-image.sh NAME:TAG}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
rootfs=$(mktemp -d /tmp/scalepipe-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$rootfs" "$mirror" >/dev/null
# What a container never uses: package lists and caches, documentation, locales.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
  "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/doc/* \
  "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
tar --numeric-owner -C "$rootfs" -c . | podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' - "$image" >/dev/null
podman image inspect --format '{{.Size}}' "$image" | awk -v image="$image" \
  '{ printf "%s: %.0f MB\n", image, $1 / 1e6 }'
