#!/usr/bin/env bash
# Forget rmdir: the run's cgroup (ws-<runtime's pid>) stays behind, in
# every hierarchy it was made in; the next run's sweep_stale removes it,
# since its runtime is gone. Only the directories of this script's own
# runs are looked at, and removed on the way out whatever happens.
set -uo pipefail
left=()
cleanup() { for d in "${left[@]}"; do rmdir "$d" 2>/dev/null; done; }
trap cleanup EXIT
where() { # the hierarchies that still hold ws-$1
    local d found=()
    for d in /sys/fs/cgroup/contain-rs-workshop /sys/fs/cgroup/*/contain-rs-workshop; do
        if [ -d "$d/ws-$1" ]; then
            left+=("$d/ws-$1")
            found+=("$(basename "$(dirname "$d")")")
        fi
    done
    echo "${found[*]:-none}"
}
for bin in control:"$BREAKIT_CONTROL" patched:"$BREAKIT_BIN"; do
    "${bin#*:}" --memory 64m --pids 20 true &
    pid=$!
    wait "$pid"
    echo "${bin%%:*}: exit $?, its cgroup is left in: $(where "$pid")"
done
"$BREAKIT_CONTROL" --pids 20 true
echo "after one more run of the control, the patched run's cgroup is left in: $(where "$pid")"
