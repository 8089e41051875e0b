#!/bin/sh
# shellcheck shell=dash
#
# PID 1 of the VM that `cargo xtask vm-test` boots (see xtask/src/vm.rs).
#
# It runs the workshop's own black-box checks (testkit's, through the
# `checks` program: the very functions `cargo test` runs on the host) on a
# pure cgroup v2 kernel, plus a few checks of the VM itself and of what only
# an initramfs can show. Every check prints one line on the serial console:
#
#     CHECK <name> PASS|FAIL <detail on one line>
#
# then `VMTEST DONE`, and the VM powers off. The host side knows which
# checks to expect and fails on a FAIL, on a missing check, and on a VM
# that does not finish in time. Run by busybox's ash; the image carries
# busybox's applets in /bin, the step binaries and `checks` in /bin (with
# the shared libraries they need), veth.ko and overlay.ko in /lib/modules, and the test
# rootfs (the same busybox rootfs the host's tests use) in /rootfs.
export PATH=/bin

pass() { echo "CHECK $1 PASS $2"; }
fail() { echo "CHECK $1 FAIL $2"; }
# A check's verdict: `verdict NAME OK DETAIL`, OK being 0 (pass) or not.
verdict() {
    if [ "$2" -eq 0 ]; then pass "$1" "$3"; else fail "$1" "$3"; fi
}
# Files and command output squeezed onto one line for a detail.
flat() { tr '\n' '|' <"$1" | cut -c1-400; }
has() { case "$1" in *"$2"*) return 0 ;; esac; return 1; }

# run BIN ARGS...: runs a step with a time limit; leaves its stdout in
# /tmp/out, its stderr in /tmp/err and its exit status in RC.
run() {
    timeout 60 "$@" </dev/null >/tmp/out 2>/tmp/err
    RC=$?
}
# What a failing run printed, for the detail.
printed() { echo "rc=$RC out=[$(flat /tmp/out)] err=[$(flat /tmp/err)]"; }

# STEPS="1 2 ...": which steps the host asked for; SKIP="--skip NAME ...":
# the checks the initramfs cannot run (vm.rs's NOT_IN_VM says why).
# shellcheck source=/dev/null
. /etc/vmtest.env
wanted() { has " $STEPS " " $1 "; }

# --- Stage 1: on the initramfs ------------------------------------------------
# pivot_root(2) fails with EINVAL when the caller's root is the initial
# ramfs (it has no parent mount to move). That is what a learner meets on a
# machine booted from an initramfs, so check it here, where it is real: the
# step must fail with a hint that names the cause, and --no-pivot (MS_MOVE
# onto / and chroot, as runc's) must work. Then copy the image onto a
# tmpfs and switch_root into it, so that everything else runs as on a
# normal machine.
if [ "$1" != stage2 ]; then
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev
    mkdir -p /tmp
    if wanted 3 && [ -x /bin/step03 ]; then
        run step03 --rootfs /rootfs true
        [ "$RC" -eq 125 ] && grep -q 'pivot_root.*EINVAL.*initial ramfs.*--no-pivot' /tmp/err
        verdict initramfs_pivot_root_hint $? "step03 on the initramfs: $(printed)"

        run step03 --no-pivot --rootfs /rootfs cat /etc/os-release
        [ "$RC" -eq 0 ] && grep -q '^ID=workshop-busybox$' /tmp/out
        verdict initramfs_no_pivot_runs $? "step03 --no-pivot on the initramfs: $(printed)"
    fi
    umount /dev /sys /proc
    mkdir -p /newroot
    mount -t tmpfs -o mode=0755 tmpfs /newroot || poweroff -f
    for entry in /*; do
        case "$entry" in
        /newroot | /proc | /sys | /dev) ;;
        *) cp -a "$entry" /newroot/ ;;
        esac
    done
    mkdir -p /newroot/proc /newroot/sys /newroot/dev
    exec switch_root /newroot /init stage2
fi

# --- Stage 2: a machine with a pure cgroup v2 hierarchy -----------------------
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mkdir -p /tmp /dev/pts
mount -t devpts devpts /dev/pts
hostname vmtest
ip link set lo up

echo "VMTEST BOOTED $(cut -d' ' -f1 /proc/uptime)"

CG=/sys/fs/cgroup

# --- The VM itself --------------------------------------------------------------
# busybox's stat does not name cgroup2fs, so compare the magic number
# (CGROUP2_SUPER_MAGIC) and the mount table.
fstype=$(stat -fc %t $CG)
[ "$fstype" = 63677270 ] && [ "$(grep -c " $CG " /proc/mounts)" -eq 1 ] &&
    grep -q "^cgroup2 $CG cgroup2 " /proc/mounts
verdict vm_cgroup2 $? "statfs type of $CG is 0x$fstype (cgroup2 is 0x63677270); mounted there: $(grep " $CG" /proc/mounts | tr '\n' '|')"

controllers=$(cat $CG/cgroup.controllers)
ok=0
for c in cpu memory pids; do has " $controllers " " $c " || ok=1; done
verdict vm_controllers $ok "cgroup.controllers: $controllers"

# veth is a module in Debian's kernels; the host put the one that matches
# the kernel into the image.
if [ ! -d /sys/module/veth ] && [ -f /lib/modules/veth.ko ]; then
    insmod /lib/modules/veth.ko 2>/tmp/err
fi
[ -d /sys/module/veth ]
verdict vm_veth $? "$(if [ -d /sys/module/veth ]; then echo "veth loaded"; else echo "no veth: $(flat /tmp/err)"; fi)"

# overlayfs too (step08's root is an overlay).
if ! grep -q overlay /proc/filesystems && [ -f /lib/modules/overlay.ko ]; then
    insmod /lib/modules/overlay.ko 2>/tmp/err
fi
grep -q overlay /proc/filesystems
verdict vm_overlay $? "$(if grep -q overlay /proc/filesystems; then echo "overlay loaded"; else echo "no overlayfs: $(flat /tmp/err)"; fi)"

# step05's tests of its cgroup v1 backend have nothing to test here: they
# must say so and be reported as ignored, never as passed or failed.
if wanted 5 && [ -x /bin/cgroup_v1_tests ]; then
    run cgroup_v1_tests
    [ "$RC" -eq 0 ] && grep -q '0 passed; 0 failed; [1-9][0-9]* ignored' /tmp/out &&
        grep -q 'no v1 controllers' /tmp/err
    verdict vm_v1_tests_ignored $? "$(printed)"
fi

# --- step09 as an ordinary user on cgroup v2 ------------------------------------
# What the host (cgroup v1) cannot show: the cgroup an ordinary user may
# use. systemd delegates a subtree to each user (user@UID.service,
# Delegate=yes): the directory and its cgroup.procs, cgroup.subtree_control
# and cgroup.threads belong to the user. Here that is rootless.delegated,
# and the user's shell runs in its leaf `shell`, as a login under
# `systemd-run --user --scope` would. uid 1000 has the range
# 200000-265535 (/etc/subuid) and newuidmap is setuid root.
if wanted 9 && [ -x /bin/step09 ]; then
    U=1000
    R=/tmp/rootless
    mkdir -p $R/home
    cp -a /rootfs $R/rootfs
    chown -R $U:$U $R
    echo "+cpu +memory +pids" >$CG/cgroup.subtree_control
    D=$CG/rootless.delegated
    mkdir -p $D/shell
    for f in $D $D/cgroup.procs $D/cgroup.subtree_control $D/cgroup.threads \
        $D/shell $D/shell/cgroup.procs $D/shell/cgroup.subtree_control $D/shell/cgroup.threads; do
        chown $U:$U "$f"
    done
    # as_user CGROUP ARGS...: step09 ARGS as uid 1000, started from CGROUP.
    # util-linux's setpriv by its path: busybox's sh prefers its own applet.
    # shellcheck disable=SC2016 # $1 is the script's, not ours
    printf '%s\n' '#!/bin/sh' \
        'echo 0 >"$1/cgroup.procs" || exit 99' \
        'shift' \
        "exec /bin/setpriv --reuid $U --regid $U --clear-groups env HOME=$R/home WORKSHOP_ROOTFS=$R/rootfs step09 --network none \"\$@\"" \
        >$R/as_user
    chmod 755 $R/as_user

    run $R/as_user $D/shell --memory 64m --pids 50 sh -c \
        'id -u; cat /proc/self/uid_map; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max'
    [ "$RC" -eq 0 ] && [ "$(sed -n 1p /tmp/out)" = 0 ] &&
        grep -q '^ *1 *200000 *65536$' /tmp/out && grep -q '^67108864$' /tmp/out &&
        grep -q '^50$' /tmp/out && [ ! -s /tmp/err ]
    verdict vm_rootless_delegated_limits $? "uid 1000 in its delegated subtree, --memory 64m --pids 50: $(printed)"

    left=$(find $D/contain-rs-workshop -mindepth 1 -maxdepth 1 -name 'ws-*' 2>/dev/null | grep -c .)
    [ -d $D/contain-rs-workshop ] && [ "$left" -eq 0 ]
    verdict vm_rootless_cgroup_removed $? "ws-* cgroups left under $D/contain-rs-workshop: $left"

    # From a cgroup that is root's, not the user's: no cgroup, one line;
    # a limit is refused.
    run $R/as_user $CG true
    [ "$RC" -eq 0 ] && [ "$(grep -c . /tmp/err)" -eq 1 ] && grep -q '^step09: no cgroup: .*not delegated' /tmp/err
    verdict vm_rootless_undelegated_says_so $? "uid 1000 in the root cgroup: $(printed)"
    run $R/as_user $CG --memory 64m true
    [ "$RC" -eq 125 ] && [ "$(grep -c . /tmp/err)" -eq 1 ] && grep -q 'need a cgroup' /tmp/err
    verdict vm_rootless_limits_need_delegation $? "uid 1000 in the root cgroup, --memory 64m: $(printed)"
fi

# --- The steps: testkit's checks -------------------------------------------------
# `checks --step N /bin/stepNN` runs every check of chapters 1 to N against
# stepNN and prints a CHECK line for each. The test rootfs is built under
# CARGO_TARGET_DIR, on this tmpfs.
export CARGO_TARGET_DIR=/tmp/target
args=""
for step in $STEPS; do
    bin=/bin/step0$step
    [ -x "$bin" ] && args="$args --step $step $bin"
done
if [ -n "$args" ]; then
    # shellcheck disable=SC2086 # the arguments are words on purpose
    checks $args $SKIP
fi

# The book's cgroup v2 recording of chapter 6 (book/src/generated/step06-v2.txt):
# one -x run, each line prefixed RECORD, which vm-test writes out.
if has " $STEPS " " 6 " && [ -x /bin/step06 ]; then
    step06 --rootfs /rootfs -x --network none --cap-add SYS_ADMIN sh -c \
        'cat /proc/self/cgroup; grep " /sys/fs/cgroup " /proc/self/mountinfo | cut -d" " -f5,6; mkdir /tmp/d && mount -t tmpfs -o dev none /tmp/d && mknod /tmp/d/kmsg c 1 11 && head -c 64 /tmp/d/kmsg' \
        </dev/null >/tmp/rec 2>&1
    echo "exit status $?" >>/tmp/rec
    sed 's/^/RECORD /' /tmp/rec
fi

echo "VMTEST DONE"
sync
poweroff -f
