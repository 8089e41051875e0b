#!/usr/bin/env bash
# Install the filter before step06's defaults (capabilities, no_new_privs):
# with Docker's profile, and with a profile that refuses capset. What the
# command prints (its capability set and seccomp mode), whether the
# runtime's errors name capset and EPERM, and the exit status. The errors
# are looked for, not printed: when PID 1 fails, the command's process,
# waiting for it, reports that its parent went away, and the two
# processes' writes to stderr interleave differently from run to run.
set -uo pipefail
cat >no-capset.json <<'JSON'
{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [
    { "names": ["capset"], "action": "SCMP_ACT_ERRNO" }
  ]
}
JSON
look='grep -E "^(CapEff|Seccomp):" /proc/self/status'
run() {
    "$@" sh -c "$look" 2>stderr.txt | sed 's/^/  /'
    local code=${PIPESTATUS[0]} names=no
    if grep -q capset stderr.txt && grep -q EPERM stderr.txt; then
        names=yes
    fi
    echo "  an error naming capset and EPERM: $names"
    echo "  exit $code"
}
for bin in control:"$BREAKIT_CONTROL" patched:"$BREAKIT_BIN"; do
    echo "${bin%%:*}, Docker's profile:"
    run "${bin#*:}"
    echo "${bin%%:*}, a profile that refuses capset:"
    run "${bin#*:}" --security-opt seccomp=no-capset.json
done
