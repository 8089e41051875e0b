#!/usr/bin/env bash
# Remove require_root and run as an ordinary user (nobody): the kernel's own
# answer to unshare(CLONE_NEWUTS) instead of require_root's.
set -uo pipefail
as_nobody() {
    setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@" 2>&1 |
        sed -e "s#$BREAKIT_CONTROL#./target/debug/step01#" -e "s#$BREAKIT_BIN#./target/debug/step01#"
    return "${PIPESTATUS[0]}"
}
as_nobody "$BREAKIT_CONTROL" --hostname box-1 hostname
echo "control: exit $?"
as_nobody "$BREAKIT_BIN" --hostname box-1 hostname
echo "patched: exit $?"
