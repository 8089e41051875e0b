#!/usr/bin/env bash
# Drop MS_PRIVATE: the container's /proc propagates to the "host". The host
# here is the throwaway mount namespace run.sh runs in (xtask makes it with
# every mount private), made shared for the purpose: the machine's own
# mount table is never touched.
set -euo pipefail
mount --make-rshared /
# /proc is about to be covered: keep a way in to our mount table.
exec 3</proc/self/mountinfo 4</proc/self/mountinfo
procs() { awk '$5 == "/proc" { print "  " $5, $(NF-2) }'; }
"$BREAKIT_CONTROL" true
echo "control: the host's /proc after the run:"
procs <&3
"$BREAKIT_BIN" true
echo "patched: the host's /proc after the run:"
procs <&4
# The proc on top describes the container's PID namespace, empty now.
echo "patched: processes the host's /proc lists now: $(find /proc -maxdepth 1 -name '[0-9]*' | wc -l)"
echo "patched: ps on the host prints $(ps -e --no-headers 2>/dev/null | wc -l) lines"
