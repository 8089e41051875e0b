#!/usr/bin/env bash
# Write a map twice: write_proc for uid_map a second time. The single map of
# an ordinary user, written by the parent (ch09-user.sh).
set -uo pipefail
# shellcheck source=book/break-it/ch09-user.sh
. "$(dirname "$0")/../ch09-user.sh"
for which in control patched; do
    as_user "$which" cat /proc/self/uid_map | tr -s ' '
    echo "$which: exit ${PIPESTATUS[0]}"
done
