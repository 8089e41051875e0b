#!/usr/bin/env bash
# Mount proc (and sysfs) after pivot_root, as step08 did: as an ordinary
# user (ch09-user.sh), in a user namespace.
set -uo pipefail
# shellcheck source=book/break-it/ch09-user.sh
. "$(dirname "$0")/../ch09-user.sh"
for which in control patched; do
    as_user "$which" sh -c 'grep -c . /proc/self/uid_map >/dev/null && echo "/proc is mounted"'
    echo "$which: exit $?"
done
