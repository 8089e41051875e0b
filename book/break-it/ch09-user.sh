# shellcheck shell=bash
# Sourced by chapter 9's run.sh (book/break-it/ch09-*/): step09 run as an
# ordinary user, $BREAKIT_USER (made by the break-it runner: no subordinate
# range, so the parent writes the single map itself, after setgroups
# "deny"). The user gets copies it can reach of both binaries and of the
# rootfs (its own: lower layers must belong to an ID the container has),
# in a directory of /tmp removed on exit.
uid=$(id -u "$BREAKIT_USER")
gid=$(id -g "$BREAKIT_USER")
user_dir=$(mktemp -d)
trap 'rm -rf "$user_dir"' EXIT
chmod 755 "$user_dir"
cp "$BREAKIT_CONTROL" "$user_dir/control"
cp "$BREAKIT_BIN" "$user_dir/patched"
cp -a "$WORKSHOP_ROOTFS" "$user_dir/rootfs"
mkdir "$user_dir/home"
chown -R "$uid:$gid" "$user_dir/rootfs" "$user_dir/home"

# as_user control|patched ARGS...: the binary as the user, with a clean
# environment and no network (which user-mode network there is, if any,
# differs between machines). The line saying there is no cgroup (cgroup v1,
# or v2 without a delegated subtree) is left out for the same reason.
as_user() {
    local bin=$user_dir/$1
    shift
    (cd "$user_dir" && setpriv --reuid="$uid" --regid="$gid" --clear-groups -- \
        env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME="$user_dir/home" XDG_DATA_HOME="$user_dir/home/data" \
        WORKSHOP_ROOTFS="$user_dir/rootfs" LC_ALL=C \
        "$bin" --network none "$@" 2>&1) |
        grep -v '^step09: no cgroup' |
        sed -E -e "s#$user_dir#DIR#g" -e "s#/proc/[0-9]+/#/proc/PID/#g" \
            -e "s/\\b($uid|$gid)\\b/ID/g"
    return "${PIPESTATUS[0]}"
}
