#!/usr/bin/env bash
# A stand-in for a chapter 8 runtime, for testkit's own tests only: enough of
# the step08 contract (--rootfs or --image, --pull, --image-store,
# --container-dir, -e) for chapter 8's checks to be run against something
# that keeps the contract, before step08 is written. Pulls with skopeo (which
# does the token flow and checks digests), unpacks with tar, converts OCI
# whiteouts, and runs the command with chroot on a per-run overlay in its
# own mount namespace. Not a container: no pid/net/uts namespaces.
#
# A copy named mock-runtime-BUG.sh has that bug (the checks must fail on it):
#   no-overlay       runs directly on the lower (writes reach the rootfs)
#   keep-dir         leaves ws-<pid> behind
#   no-whiteouts     unpacks .wh. files as they are
#   no-entrypoint    ignores the image's Entrypoint
#   no-env           ignores the image's Env
#   dirty-store      leaves its temp dir in the store when a pull fails
#   always-pulls-missing   treats --pull always and never as missing
set -u
MOCK_BROKEN=
case "$(basename "$0")" in
mock-runtime-*.sh) MOCK_BROKEN=$(basename "$0" .sh) MOCK_BROKEN=${MOCK_BROKEN#mock-runtime-} ;;
esac
export MOCK_BROKEN
store=${WORKSHOP_IMAGE_STORE:-/var/lib/contain-rs-workshop/images}
cdir=${WORKSHOP_CONTAINER_DIR:-/var/lib/contain-rs-workshop/containers}
rootfs='' image='' pull=missing
envs=()
while [ $# -gt 0 ]; do
    case "$1" in
    --rootfs) rootfs=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --pull) pull=$2; shift 2 ;;
    --image-store) store=$2; shift 2 ;;
    --container-dir) cdir=$2; shift 2 ;;
    -e) envs+=("$2"); shift 2 ;;
    *) break ;;
    esac
done
if [ "$MOCK_BROKEN" = always-pulls-missing ]; then pull=missing; fi
die() { echo "mock: $*" >&2; exit 125; }

ws=$cdir/ws-$$
# shellcheck disable=SC2317  # called by the traps
cleanup() { [ "${MOCK_BROKEN:-}" = keep-dir ] || rm -rf "$ws"; }
trap cleanup EXIT

lowers=$rootfs
ienv=() entry=() cmd=() wd=/ user=
if [ -n "$image" ]; then
    reg=${image%%/*} rest=${image#*/}
    repo=${rest%:*} tag=${rest##*:}
    reffile=$store/refs/$reg/$repo/$tag
    if [ "$pull" = always ] || { [ "$pull" = missing ] && [ ! -f "$reffile" ]; }; then
        mkdir -p "$store/tmp" "$store/blobs/sha256" "$store/layers/sha256" || die "mkdir $store"
        exec 9>>"$store/lock"
        flock 9
        tmp=$(mktemp -d "$store/tmp/pull.XXXXXX")
        if [ "$MOCK_BROKEN" != dirty-store ]; then trap 'rm -rf "$tmp"; cleanup' EXIT; fi
        if ! skopeo --insecure-policy copy -q --preserve-digests --src-tls-verify=false \
            "docker://$image" "oci:$tmp/oci:x" </dev/null 2>"$tmp/err" >/dev/null; then
            die "--image $image: $(grep -v '^\s*$' "$tmp/err" | tail -n 1)"
        fi
        mdigest=$(jq -r '.manifests[0].digest' "$tmp/oci/index.json")
        manifest=$tmp/oci/blobs/sha256/${mdigest#sha256:}
        for d in $(jq -r '.layers[].digest' "$manifest"); do
            hex=${d#sha256:}
            [ -d "$store/layers/sha256/$hex" ] && continue
            if tar -tzf "$tmp/oci/blobs/sha256/$hex" 2>/dev/null | grep -qE '(^/|(^|/)\.\.(/|$))'; then
                die "--image $image: layer $d has a path outside the layer"
            fi
            mkdir "$tmp/$hex"
            tar -xzf "$tmp/oci/blobs/sha256/$hex" --numeric-owner -C "$tmp/$hex" ||
                die "--image $image: cannot unpack layer $d"
            [ "$MOCK_BROKEN" = no-whiteouts ] && continue
            while IFS= read -r -d '' o; do
                setfattr -n trusted.overlay.opaque -v y "$(dirname "$o")" && rm "$o"
            done < <(find "$tmp/$hex" -name '.wh..wh..opq' -print0)
            while IFS= read -r -d '' w; do
                n=$(basename "$w")
                rm "$w" && mknod "$(dirname "$w")/${n#.wh.}" c 0 0
            done < <(find "$tmp/$hex" -name '.wh.*' -print0)
        done
        # Verified and unpacked: now into the store.
        for d in "$mdigest" $(jq -r '.config.digest' "$manifest"); do
            cp "$tmp/oci/blobs/sha256/${d#sha256:}" "$store/blobs/sha256/${d#sha256:}"
        done
        for d in $(jq -r '.layers[].digest' "$manifest"); do
            [ -d "$tmp/${d#sha256:}" ] && [ ! -d "$store/layers/sha256/${d#sha256:}" ] &&
                mv "$tmp/${d#sha256:}" "$store/layers/sha256/${d#sha256:}"
        done
        mkdir -p "$(dirname "$reffile")"
        echo "$mdigest" >"$tmp/ref" && mv "$tmp/ref" "$reffile"
        rm -rf "$tmp"
        flock -u 9
    fi
    [ -f "$reffile" ] || die "--image $image: not in the store and --pull $pull"
    mdigest=$(cat "$reffile")
    manifest=$store/blobs/sha256/${mdigest#sha256:}
    config=$store/blobs/sha256/$(jq -r '.config.digest' "$manifest" | sed 's/^sha256://')
    lowers=
    for d in $(jq -r '.layers[].digest' "$manifest"); do
        lowers=$store/layers/sha256/${d#sha256:}${lowers:+:$lowers}
    done
    [ "$MOCK_BROKEN" = no-env ] ||
        mapfile -t ienv < <(jq -r '.config.Env // [] | .[]' "$config")
    [ "$MOCK_BROKEN" = no-entrypoint ] ||
        mapfile -t entry < <(jq -r '.config.Entrypoint // [] | .[]' "$config")
    mapfile -t cmd < <(jq -r '.config.Cmd // [] | .[]' "$config")
    wd=$(jq -r '.config.WorkingDir // "/"' "$config")
    user=$(jq -r '.config.User // ""' "$config")
fi
[ -n "$lowers" ] || die "no --rootfs and no --image"
[ $# -gt 0 ] && cmd=("$@")
argv=("${entry[@]}" "${cmd[@]}")
[ ${#argv[@]} -gt 0 ] || die "no command"

# What runs killed with SIGKILL left: every ws-<pid> whose process is gone.
for stale in "$cdir"/ws-*; do
    [ -d "$stale" ] || continue
    kill -0 "${stale##*/ws-}" 2>/dev/null || rm -rf "$stale"
done
mkdir -p "$ws/upper" "$ws/work" "$ws/merged" || die "mkdir $ws"
export MOCK_LOWERS=$lowers MOCK_WS=$ws MOCK_WD=$wd MOCK_USER=$user
# shellcheck disable=SC2016  # expanded by the inner bash
unshare -m --propagation private -- bash -c '
    set -u
    if [ "${MOCK_BROKEN:-}" = no-overlay ]; then
        mount --bind "${MOCK_LOWERS%%:*}" "$MOCK_WS/merged" || exit 125
    else
        mount -t overlay overlay \
            -o "lowerdir=$MOCK_LOWERS,upperdir=$MOCK_WS/upper,workdir=$MOCK_WS/work" \
            "$MOCK_WS/merged" || exit 125
    fi
    m=$MOCK_WS/merged
    mount -t proc proc "$m/proc" 2>/dev/null || { echo "mock: mount proc" >&2; exit 125; }
    mount -t tmpfs tmpfs "$m/dev" || exit 125
    touch "$m/dev/null" && mount --bind /dev/null "$m/dev/null" || exit 125
    spec=0:0
    case "$MOCK_USER" in
    "") ;;
    *[!0-9:]*)
        line=$(grep "^${MOCK_USER}:" "$m/etc/passwd") || { echo "mock: no user $MOCK_USER" >&2; exit 125; }
        spec=$(echo "$line" | cut -d: -f3):$(echo "$line" | cut -d: -f4) ;;
    *:*) spec=$MOCK_USER ;;
    *) spec=$MOCK_USER:0 ;;
    esac
    exec chroot --userspec="$spec" "$m" /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$MOCK_WD" "$@"
' mock env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${ienv[@]}" "${envs[@]}" "${argv[@]}" &
child=$!
# SIGTERM goes on to the command; the layer is removed when it has ended.
trap 'kill -TERM "$child" 2>/dev/null' TERM
wait "$child"
status=$?
while kill -0 "$child" 2>/dev/null; do wait "$child"; status=$?; done
exit $status
