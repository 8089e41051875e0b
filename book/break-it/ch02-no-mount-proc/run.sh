#!/usr/bin/env bash
# Drop mount_proc(): ps inside lists the host's processes, by host pids.
set -euo pipefail
echo "control: ps inside lists:"
"$BREAKIT_CONTROL" ps -e -o pid=,comm=
host_pid=$$
inside() {
    "$BREAKIT_BIN" sh -c "ps -e -o pid= | grep -qx ' *$host_pid' && echo yes || echo no"
}
echo "patched: ps inside lists run.sh's own shell by its host pid: $(inside)"
# shellcheck disable=SC2016 # expanded inside the container
echo "patched: ps inside lists more than 10 processes: $("$BREAKIT_BIN" sh -c 'test "$(ps -e --no-headers | wc -l)" -gt 10 && echo yes || echo no')"
