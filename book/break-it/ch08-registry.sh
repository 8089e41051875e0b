# shellcheck shell=bash
# Sourced by chapter 8's run.sh (book/break-it/ch08-*/): a registry on
# 127.0.0.1:5000, in a network namespace of the run's own (so the port is
# always free and nothing reaches the host's network), serving images built
# here from the run's copy of the rootfs. The server is the rootfs's own
# busybox httpd on a directory laid out as the registry API's paths:
# v2/NAME/manifests/TAG and v2/NAME/blobs/sha256:HEX. Layers are plain tar
# (media type ...layer.v1.tar), so a layer's blob digest is its diff_id.
if [ "${1:-}" != inside ]; then
    exec unshare --net -- bash "$0" inside
fi
REGISTRY=127.0.0.1:5000
# The rootfs the layers are made of; unset, since --image and a rootfs
# (WORKSHOP_ROOTFS included) exclude each other.
ROOTFS=$WORKSHOP_ROOTFS
unset WORKSHOP_ROOTFS
registry_dir=$BREAKIT_TMP/registry

# Starts the server; it is stopped when run.sh exits.
registry_start() {
    ip link set lo up
    mkdir -p "$registry_dir"
    "$ROOTFS/bin/busybox" httpd -f -p "$REGISTRY" -h "$registry_dir" &
    registry_pid=$!
    trap 'kill "$registry_pid" 2>/dev/null' EXIT
    local _
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/5000") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    echo "busybox httpd did not answer on $REGISTRY" >&2
    return 1
}

# sha256:HEX of a file.
digest_of() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

# A reproducible tar of DIR's contents, into FILE.
layer_tar() {
    tar --sort=name --mtime=@0 --numeric-owner -C "$1" -cf "$2" .
}

# Serves FILE as a blob of repository NAME; prints its digest.
put_blob() {
    local name=$1 file=$2 d
    d=$(digest_of "$file")
    mkdir -p "$registry_dir/v2/$name/blobs"
    cp "$file" "$registry_dir/v2/$name/blobs/$d"
    echo "$d"
}

# image NAME TAG LAYER.tar...: the layers (base first), a config running
# /bin/sh, and a manifest, served as NAME:TAG.
image() {
    local name=$1 tag=$2 layers="" diff_ids="" sep="" t d config
    shift 2
    for t in "$@"; do
        d=$(put_blob "$name" "$t")
        layers+="$sep{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"$d\",\"size\":$(stat -c %s "$t")}"
        diff_ids+="$sep\"$d\""
        sep=,
    done
    config=$BREAKIT_TMP/config-${name//\//-}-$tag.json
    local arch
    case $(uname -m) in
    x86_64) arch=amd64 ;;
    aarch64) arch=arm64 ;;
    *) arch=$(uname -m) ;;
    esac
    printf '{"architecture":"%s","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
        "$arch" "$diff_ids" >"$config"
    d=$(put_blob "$name" "$config")
    mkdir -p "$registry_dir/v2/$name/manifests"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
        "$d" "$(stat -c %s "$config")" "$layers" >"$registry_dir/v2/$name/manifests/$tag"
}

# Digests and sizes differ between tar versions: masked in what is printed.
mask() { sed -E -e 's/sha256:[0-9a-f]{64}/sha256:…/g' -e 's/[0-9]+ bytes/N bytes/g'; }
