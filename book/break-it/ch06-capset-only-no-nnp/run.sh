#!/usr/bin/env bash
# PATCH: only capset, and no PR_SET_NO_NEW_PRIVS either.
# What the command gets, seen from inside: its capability sets, no_new_privs,
# and whether it may do what Docker's set forbids (hostname needs
# CAP_SYS_ADMIN).
set -euo pipefail
# shellcheck disable=SC2016 # expanded inside the container
look='grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status; hostname x 2>/dev/null && echo "hostname x: works" || echo "hostname x: fails"'
# The whole bounding set differs between machines (some run their jobs
# without CAP_SYS_RESOURCE): it is printed as a name, this machine's value.
full=$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)
name() { sed -e "s/$full/(all of this machine's)/" -e 's/^/  /'; }
echo "control:"
"$BREAKIT_CONTROL" sh -c "$look" | name
echo "patched:"
"$BREAKIT_BIN" sh -c "$look" | name
