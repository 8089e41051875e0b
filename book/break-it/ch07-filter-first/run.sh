#!/usr/bin/env bash
# Install the filter before step06's defaults (capabilities, no_new_privs):
# with Docker's profile, and with a profile that refuses capset.
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
for bin in control:"$BREAKIT_CONTROL" patched:"$BREAKIT_BIN"; do
    echo "${bin%%:*}, Docker's profile:"
    "${bin#*:}" sh -c "$look" 2>&1 | sed 's/^/  /'
    echo "  exit ${PIPESTATUS[0]}"
    echo "${bin%%:*}, a profile that refuses capset:"
    "${bin#*:}" --security-opt seccomp=no-capset.json sh -c "$look" 2>&1 | sed 's/^/  /'
    echo "  exit ${PIPESTATUS[0]}"
done
