#!/bin/sh
# Demo step: re-image a machine from the pool's image (PXE boot, write, verify).
set -eu
image="${LOANER_IMAGE_NAME}@${LOANER_IMAGE_VERSION}"
echo "Setting next boot device to PXE on ${LOANER_MACHINE_FQDN}"
echo "Rebooting into the installer (attempt ${LOANER_ATTEMPT})"
sleep 0.5
for pct in 20 45 70 95 100; do
  echo "Writing ${image}: ${pct}%"
  sleep 0.2
done
echo "Verifying checksum: sha256 $(printf '%s' "${image}" | sha256sum | cut -c1-16)… ok"
echo "${LOANER_MACHINE_FQDN} now runs ${image}"
