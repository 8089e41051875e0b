#!/usr/bin/env bash
# Mount the overlay with upperdir on the rootfs itself, which is also its
# lower layer. The rootfs and the container dir (where workdir is) go on
# one tmpfs of this run's own, in its throwaway mount namespace: an older
# kernel checks that upperdir and workdir share a mount before it looks at
# the layers, so this is the same outcome on every machine.
set -uo pipefail
scratch=$BREAKIT_TMP/scratch
mkdir "$scratch"
mount -t tmpfs break-it "$scratch"
cp -a "$WORKSHOP_ROOTFS" "$scratch/rootfs"
mkdir "$scratch/containers"
export WORKSHOP_ROOTFS=$scratch/rootfs WORKSHOP_CONTAINER_DIR=$scratch/containers
run() {
    "$@" 2>&1 | sed -E -e "s#$scratch#SCRATCH#g" -e 's/ws-[0-9]+/ws-PID/g'
    return "${PIPESTATUS[0]}"
}
run "$BREAKIT_CONTROL" --network none sh -c 'touch /new-file && echo "wrote /new-file"'
echo "control: exit $?"
run "$BREAKIT_BIN" --network none sh -c 'touch /new-file && echo "wrote /new-file"'
echo "patched: exit $?"
echo "the rootfs afterwards has /new-file: $(test -e "$WORKSHOP_ROOTFS/new-file" && echo yes || echo no)"
umount "$scratch"
