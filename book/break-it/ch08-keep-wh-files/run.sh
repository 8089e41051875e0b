#!/usr/bin/env bash
# Leave the .wh. files as they are: an image whose second layer adds
# /srv/secret and whose third deletes it (an OCI whiteout, /srv/.wh.secret).
# Each binary pulls into a store of its own, served by ch08-registry.sh.
set -uo pipefail
# shellcheck source=book/break-it/ch08-registry.sh
. "$(dirname "$0")/../ch08-registry.sh"
registry_start
mkdir -p added/srv deleted/srv
echo "the secret" >added/srv/secret
: >deleted/srv/.wh.secret
layer_tar "$ROOTFS" base.tar
layer_tar added added.tar
layer_tar deleted deleted.tar
image test/app 1 base.tar added.tar deleted.tar
# shellcheck disable=SC2016 # expanded inside the container
look='cat /srv/secret 2>&1; echo "/srv holds: $(ls -A /srv | tr "\n" " ")"'
for bin in control:"$BREAKIT_CONTROL" patched:"$BREAKIT_BIN"; do
    which=${bin%%:*}
    "${bin#*:}" --network none --image-store "$BREAKIT_TMP/store-$which" \
        --image "$REGISTRY/test/app:1" sh -c "$look" 2>&1 | mask | sed "s/^/$which: /"
    echo "$which: exit ${PIPESTATUS[0]}"
done
