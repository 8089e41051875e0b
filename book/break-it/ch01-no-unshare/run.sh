#!/usr/bin/env bash
# Remove the unshare call: sethostname renames the host. The "host" here is
# a throwaway UTS namespace made for this run, never the machine's own.
set -euo pipefail
if [ "${1:-}" != inside ]; then
    exec unshare --uts -- bash "$0" inside
fi
hostname the-host
echo "control: $("$BREAKIT_CONTROL" --hostname box-1 hostname)"
echo "control: the host is now called $(hostname)"
echo "patched: $("$BREAKIT_BIN" --hostname box-1 hostname)"
echo "patched: the host is now called $(hostname)"
