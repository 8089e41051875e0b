#!/usr/bin/env bash
# Remove umount2: the old root stays stacked on /, and the container's
# mount table lists every host mount again.
set -euo pipefail
points() { "$1" sh -c 'cut -d" " -f5 /proc/self/mountinfo'; }
echo "control: the container's mount points:"
points "$BREAKIT_CONTROL" | sed 's/^/  /'
host=$(wc -l </proc/self/mountinfo)
patched=$(points "$BREAKIT_BIN" | wc -l)
echo "patched: the container lists more mounts than the host has: $([ "$patched" -gt "$host" ] && echo yes || echo no)"
echo "patched: among them the host's /proc/sys/fs/binfmt_misc or /boot or /sys/fs/cgroup: $(points "$BREAKIT_BIN" | grep -qE '^/(proc/sys/fs/binfmt_misc|boot|sys/fs/cgroup)$' && echo yes || echo no)"
