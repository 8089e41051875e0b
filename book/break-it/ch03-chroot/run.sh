#!/usr/bin/env bash
# Use chroot instead of pivot_root: step03's own --no-pivot (MS_MOVE, then
# chroot), so this break-it has no patch. /proc/self/mountinfo hides the
# mounts outside the process's root: the table looks just as clean.
set -euo pipefail
points() { "$@" sh -c 'cut -d" " -f5 /proc/self/mountinfo'; }
echo "control (pivot_root): the container's mount points:"
points "$BREAKIT_CONTROL" | sed 's/^/  /'
echo "patched (--no-pivot): the container's mount points:"
points "$BREAKIT_BIN" --no-pivot | sed 's/^/  /'
