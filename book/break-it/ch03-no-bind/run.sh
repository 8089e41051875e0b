#!/usr/bin/env bash
# Remove the bind mount: the rootfs directory is no mount point, and
# pivot_root says EINVAL.
set -uo pipefail
run() { "$@" 2>&1 | sed "s#$WORKSHOP_ROOTFS#ROOTFS#g"; return "${PIPESTATUS[0]}"; }
run "$BREAKIT_CONTROL" cat /etc/hostname
echo "control: exit $?"
run "$BREAKIT_BIN" cat /etc/hostname
echo "patched: exit $?"
