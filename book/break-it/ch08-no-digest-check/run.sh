#!/usr/bin/env bash
# Skip the digest check of a layer's blob. Three images on one base layer,
# served by ch08-registry.sh: one served as built (the positive control);
# one whose top layer's blob is another layer's bytes (the fault of the
# bad-input check images::blob_digest_mismatch_is_125); and one whose top
# layer is served with the same number of bytes but other content ("evil"
# where the image has "good"). Each pull has a store of its own: a store
# that holds a layer already never downloads it again.
set -uo pipefail
# shellcheck source=book/break-it/ch08-registry.sh
. "$(dirname "$0")/../ch08-registry.sh"
registry_start
mkdir -p good/srv evil/srv
echo good >good/srv/file
echo evil >evil/srv/file
layer_tar "$ROOTFS" base.tar
layer_tar good good.tar
layer_tar evil evil.tar
image test/app 1 base.tar good.tar
image test/other-layer 1 base.tar good.tar
cp base.tar "$registry_dir/v2/test/other-layer/blobs/$(digest_of good.tar)"
image test/same-size 1 base.tar good.tar
cp evil.tar "$registry_dir/v2/test/same-size/blobs/$(digest_of good.tar)"
echo "the evil blob has the good one's size: $([ "$(stat -c %s evil.tar)" = "$(stat -c %s good.tar)" ] && echo yes || echo no)"
for bin in control:"$BREAKIT_CONTROL" patched:"$BREAKIT_BIN"; do
    which=${bin%%:*}
    for name in app other-layer same-size; do
        "${bin#*:}" --network none --image-store "$BREAKIT_TMP/store-$which-$name" \
            --image "$REGISTRY/test/$name:1" cat /srv/file 2>&1 | mask | sed "s/^/$which: /"
        echo "$which: test/$name: exit ${PIPESTATUS[0]}"
    done
done
