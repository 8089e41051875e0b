#!/usr/bin/env bash
# capset before the bounding-set loop, with --cap-drop ALL: CAP_SETPCAP is
# gone from the effective set when the first PR_CAPBSET_DROP comes.
set -uo pipefail
"$BREAKIT_CONTROL" --cap-drop ALL sh -c 'grep -E "^(CapEff|CapBnd)" /proc/self/status' 2>&1
echo "control: exit $?"
"$BREAKIT_BIN" --cap-drop ALL sh -c 'grep -E "^(CapEff|CapBnd)" /proc/self/status' 2>&1
echo "patched: exit $?"
