#!/usr/bin/env bash
# Forget lo: the container's loopback stays down.
set -uo pipefail
for bin in control:"$BREAKIT_CONTROL" patched:"$BREAKIT_BIN"; do
    echo "${bin%%:*}: $("${bin#*:}" ping -c 1 -W 1 127.0.0.1 2>&1 | grep -vE '^(PING|---|round-trip|64 bytes)' | tr '\n' ' ')"
done
