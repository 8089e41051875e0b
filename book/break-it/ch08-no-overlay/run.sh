#!/usr/bin/env bash
# Leave out the overlay and pivot into the lower directory itself (the
# rootfs, as step07 did): the container writes and deletes in the rootfs.
# The rootfs is a copy made for this run.
set -uo pipefail
export WORKSHOP_CONTAINER_DIR=$BREAKIT_TMP/containers
mkdir -p "$WORKSHOP_CONTAINER_DIR"
# shellcheck disable=SC2016 # expanded inside the container
inside='echo written > /left-behind && rm /bin/ls && echo "inside: /left-behind says $(cat /left-behind), /bin/ls is $(test -e /bin/ls && echo there || echo gone)"'
host() {
    echo "$1: the rootfs afterwards: /left-behind $(test -e "$WORKSHOP_ROOTFS/left-behind" && echo is there || echo "is not there"), /bin/ls $(test -e "$WORKSHOP_ROOTFS/bin/ls" && echo is there || echo is gone)"
}
for bin in control:"$BREAKIT_CONTROL" patched:"$BREAKIT_BIN"; do
    "${bin#*:}" --network none sh -c "$inside" 2>&1 | sed "s/^/${bin%%:*}: /"
    echo "${bin%%:*}: exit ${PIPESTATUS[0]}"
    host "${bin%%:*}"
done
