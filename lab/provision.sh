#!/usr/bin/env bash
# Provisions the workshop's lab VM (run by Vagrant as root; see Vagrantfile
# and lab/README.md). Running it again changes nothing and says so.
#
#   provision.sh                  install the tools, Rust for the workshop
#                                 user, build the workspace, fetch the rootfs,
#                                 run doctor (fails if doctor finds a problem)
#   provision.sh --cgroup-v1-boot set the kernel command line for cgroup v1
#                                 (the `v1` machine; Vagrant reboots after it)
#
# WORKSHOP_CGROUP (v2 or v1) is the mode the machine must have booted with.
# The logic is in lab/lib.sh; lab/test-provision.sh tests it with fakes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# Vagrant uploads this script alone (to /tmp); lib.sh comes with the
# repository, in the synced folder.
lib="$here/lib.sh"
[ -f "$lib" ] || lib="${WORKSHOP_DIR:-/workshop}/lab/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$lib"

WORKSHOP_DIR=${WORKSHOP_DIR:-/workshop}
WORKSHOP_USER=${WORKSHOP_USER:-vagrant}
WORKSHOP_CGROUP=${WORKSHOP_CGROUP:-v2}

if [ "$(id -u)" -ne 0 ]; then
    die "run me as root (Vagrant does: privileged shell provisioner)"
fi

case "${1-}" in
--cgroup-v1-boot)
    configure_cgroup_v1_boot
    summary
    exit 0
    ;;
"") ;;
*) die "unknown argument ${1}; usage: provision.sh [--cgroup-v1-boot]" ;;
esac

check_cgroup_mode "$WORKSHOP_CGROUP"
mapfile -t packages < <(workshop_packages)
install_packages "${packages[@]}"
install_rust
install_cargo_config
install_apparmor_profile
subordinate_ids
build_workspace
fetch_rootfs
run_doctor
summary
