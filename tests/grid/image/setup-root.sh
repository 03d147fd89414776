#!/bin/bash
# Runs inside the debootstrapped Debian 13 root (chroot) to finish the grid image.
# Reads: /tmp/gwms-image/packages.txt. Exit status: non-zero on any failure.
set -Eeuo pipefail

main() {
  export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
  local -a packages
  mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' /tmp/gwms-image/packages.txt)

  # Never start services while building the image.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d

  printf 'deb %s trixie main\n' "${GWMS_MIRROR}" > /etc/apt/sources.list
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${packages[@]}"

  # The Ansible roles own configuration and enable services; start clean.
  local unit
  for unit in condor slurmctld slurmd munge ssh; do
    systemctl disable "${unit}.service" >/dev/null 2>&1 || true
  done
  # Units that cannot work in a container.
  systemctl mask getty@tty1.service console-getty.service systemd-remount-fs.service \
    systemd-udevd.service systemd-modules-load.service sys-kernel-config.mount \
    >/dev/null 2>&1 || true

  # A fresh machine-id per container, keys generated per image are fine for tests.
  : > /etc/machine-id
  rm -f /var/lib/dbus/machine-id /usr/sbin/policy-rc.d
  apt-get clean
  rm -rf /var/lib/apt/lists/* /tmp/gwms-image
}

main "$@"
