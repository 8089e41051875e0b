#!/usr/bin/env bash
# Drop become_root (setresgid/setresuid 0 in PID 1): as an ordinary user
# (ch09-user.sh), and as root with --userns remap (root's range in
# /etc/subuid, which the break-it runner makes sure of).
set -uo pipefail
# shellcheck source=book/break-it/ch09-user.sh
. "$(dirname "$0")/../ch09-user.sh"
look='id; grep -E "^(CapEff):" /proc/self/status'
for which in control patched; do
    echo "$which, rootless:"
    as_user "$which" sh -c "$look" | sed 's/^/  /'
    echo "  exit ${PIPESTATUS[0]}"
done
# The container dir must be reachable by the range's IDs: ch09-user.sh's
# directory in /tmp is (mode 0755 all the way down).
export WORKSHOP_CONTAINER_DIR=$user_dir/containers
mkdir -p "$WORKSHOP_CONTAINER_DIR"
for bin in control:"$BREAKIT_CONTROL" patched:"$BREAKIT_BIN"; do
    echo "${bin%%:*}, root with --userns remap:"
    # Paths, PIDs and root's range differ between machines: masked.
    "${bin#*:}" --userns remap --network none sh -c "$look" 2>&1 |
        sed -E -e "s#$user_dir#DIR#g" -e 's/ws-[0-9]+/ws-PID/g' \
            -e 's#remap-[0-9]+\.[0-9]+/[0-9a-f]+#remap-RANGE/KEY#g' -e 's/^/  /'
    echo "  exit ${PIPESTATUS[0]}"
done
