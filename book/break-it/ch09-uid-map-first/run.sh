#!/usr/bin/env bash
# Write the uid map before the gid map, and make the gid write fail (no
# setgroups "deny" before it): the parent's writes, as -x narrates them
# (without their times), and the outcome.
set -uo pipefail
# shellcheck source=book/break-it/ch09-user.sh
. "$(dirname "$0")/../ch09-user.sh"
for which in control patched; do
    as_user "$which" -x true |
        sed -E 's/^step09 \+[0-9.]+ms /step09 /' |
        grep -E '^step09 parent write\("/proc/PID/|^step09: ' |
        sed -n '1,/uid_map\|failed\|^step09: /p'
    echo "$which: exit ${PIPESTATUS[0]}"
done
