#!/usr/bin/env bash
# Remove the bind mount: the rootfs directory is no mount point, and
# pivot_root refuses. Which errno depends on the filesystem the rootfs is on
# (EBUSY on the root filesystem, EINVAL on any other), so the run puts its
# copy of the rootfs on a tmpfs of its own, in this throwaway mount
# namespace: the same outcome on every machine.
set -uo pipefail
scratch=$(mktemp -d)
mount -t tmpfs break-it "$scratch"
cp -a "$WORKSHOP_ROOTFS" "$scratch/rootfs"
export WORKSHOP_ROOTFS="$scratch/rootfs"
run() { "$@" 2>&1 | sed "s#$WORKSHOP_ROOTFS#ROOTFS#g"; return "${PIPESTATUS[0]}"; }
run "$BREAKIT_CONTROL" cat /etc/hostname
echo "control: exit $?"
run "$BREAKIT_BIN" cat /etc/hostname
echo "patched: exit $?"
umount "$scratch"
rmdir "$scratch"
