#!/usr/bin/env bash
# Add the default route before eth0 has its address and is up: no link
# reaches the gateway yet. Addresses are masked (the lease varies).
set -uo pipefail
mask() { sed -E 's/[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/A.B.C.D/g; s/ifindex [0-9]+/ifindex N/g'; }
"$BREAKIT_CONTROL" true 2>&1 | mask
echo "control: exit ${PIPESTATUS[0]}"
"$BREAKIT_BIN" true 2>&1 | mask
echo "patched: exit ${PIPESTATUS[0]}"
