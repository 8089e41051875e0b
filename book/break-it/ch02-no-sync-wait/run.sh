#!/usr/bin/env bash
# Remove the sync pipe's wait: nothing visible in step02 (the parent has
# nothing to do yet before the child goes on). The same command, both ways.
set -euo pipefail
for bin in control:"$BREAKIT_CONTROL" patched:"$BREAKIT_BIN"; do
    # shellcheck disable=SC2016 # expanded inside the container
    # ps without a pipe inside: a pipeline's second process can be seen as
    # `sh` before it becomes `tr`. The spaces are squeezed out here.
    echo "${bin%%:*}: $("${bin#*:}" --hostname box-2 sh -c 'echo "$(hostname) pid $$"; ps -e -o pid=,comm=' | tr -s " ")"
done
