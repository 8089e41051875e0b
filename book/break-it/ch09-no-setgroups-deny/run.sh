#!/usr/bin/env bash
# Skip setgroups "deny": the single map of an ordinary user without a
# subordinate range (ch09-user.sh), whose gid_map the parent writes itself.
set -uo pipefail
# shellcheck source=book/break-it/ch09-user.sh
. "$(dirname "$0")/../ch09-user.sh"
for which in control patched; do
    as_user "$which" sh -c 'id; cat /proc/self/setgroups'
    echo "$which: exit $?"
done
