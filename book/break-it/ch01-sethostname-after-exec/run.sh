#!/usr/bin/env bash
# Call sethostname after execvp: a successful execvp never returns, so the
# command runs with the host's name (the host here is a throwaway UTS
# namespace, so the name is known).
set -euo pipefail
if [ "${1:-}" != inside ]; then
    exec unshare --uts -- bash "$0" inside
fi
hostname the-host
echo "control: $("$BREAKIT_CONTROL" --hostname box-1 hostname)"
echo "patched: $("$BREAKIT_BIN" --hostname box-1 hostname)"
