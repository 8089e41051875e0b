#!/usr/bin/env bash
# Skip mount_dev: /dev is the rootfs's own directory. The rootfs is a copy
# made for this run.
set -uo pipefail
script='head -c 1 /dev/urandom >/dev/null && echo urandom ok; echo hi > /dev/null; ls -l /dev/null | cut -c1'
echo "control: $("$BREAKIT_CONTROL" sh -c "$script" 2>&1 | tr '\n' ' ')"
echo "patched: $("$BREAKIT_BIN" sh -c "$script" 2>&1 | tr '\n' ' ')"
echo "patched: the rootfs's /dev/null is now a file holding: $(cat "$WORKSHOP_ROOTFS/dev/null")"
