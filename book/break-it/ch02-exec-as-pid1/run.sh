#!/usr/bin/env bash
# Exec the command as PID 1 instead of pid::init: SIGTERM sent to the
# runtime (forwarded to PID 1) and an orphan that needs reaping.
set -uo pipefail
term() {
    "$1" sh -c 'sleep 100' &
    local runtime=$!
    sleep 1
    kill -TERM "$runtime"
    sleep 1
    if kill -0 "$runtime" 2>/dev/null; then
        echo "$2: still running 1 s after SIGTERM"
        kill -KILL "$runtime"
        # PID 1 dies with its parent (die_with_parent), and the rest with it.
        wait "$runtime"
        echo "$2: SIGKILL ended it: exit $?"
    else
        wait "$runtime"
        echo "$2: SIGTERM ended it: exit $?"
    fi
}
term "$BREAKIT_CONTROL" control
term "$BREAKIT_BIN" patched
# An orphan: re-parented to PID 1, which here ends up as `sleep 3` (the
# command execs it), a program that never calls wait. Counted from the host.
zombies() {
    "$1" sh -c '(sleep 1 &); exec sleep 3' &
    local runtime=$! init
    sleep 2
    init=$(pgrep -P "$runtime")
    echo "$2: zombies under PID 1 after the orphan ended: $(pgrep -c -r Z -P "$init" || true)"
    wait "$runtime"
}
zombies "$BREAKIT_CONTROL" control
zombies "$BREAKIT_BIN" patched
