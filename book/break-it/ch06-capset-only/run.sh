#!/usr/bin/env bash
# PATCH: only capset (the bounding-set loop removed).
# What the command gets, seen from inside: its capability sets, no_new_privs,
# and whether it may do what Docker's set forbids (hostname needs
# CAP_SYS_ADMIN).
set -euo pipefail
# shellcheck disable=SC2016 # expanded inside the container
look='grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status; hostname x 2>/dev/null && echo "hostname x: works" || echo "hostname x: fails"'
echo "control:"
"$BREAKIT_CONTROL" sh -c "$look" | sed 's/^/  /'
echo "patched:"
"$BREAKIT_BIN" sh -c "$look" | sed 's/^/  /'
