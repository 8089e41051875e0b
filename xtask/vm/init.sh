#!/bin/sh
# shellcheck shell=dash
#
# PID 1 of the VM that `cargo xtask vm-test` boots (see xtask/src/vm.rs).
#
# It runs the step binaries on a pure cgroup v2 kernel and prints one line
# per check on the serial console:
#
#     CHECK <name> PASS|FAIL <detail on one line>
#
# then `VMTEST DONE`, and powers the VM off. The host side knows which
# checks to expect and fails on a FAIL, on a missing check, and on a VM
# that does not finish in time. Run by busybox's ash; the image carries
# busybox's applets in /bin, the step binaries in /bin (with the shared
# libraries they need), veth.ko in /lib/modules, and the test rootfs (the
# same busybox rootfs the host's tests use) in /rootfs.
export PATH=/bin

# --- Stage 1: off the initramfs ---------------------------------------------
# pivot_root(2) fails with EINVAL when the caller's root is the initial
# ramfs (it has no parent mount to move), so no container runtime works
# there. Copy the image onto a tmpfs and switch_root into it: the tmpfs is
# a real mount, and pivot_root works from it.
if [ "$1" != stage2 ]; then
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
# STEPS="1 2 ...": which steps the host asked for.
# shellcheck source=/dev/null
. /etc/vmtest.env

echo "VMTEST BOOTED $(cut -d' ' -f1 /proc/uptime)"

CG=/sys/fs/cgroup
WS=$CG/contain-rs-workshop

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

wanted() { has " $STEPS " " $1 "; }
# names DIR [PREFIX]: the entries of DIR (that start with PREFIX), sorted, on one line.
names() {
    for e in "$1/${2-}"*; do
        if [ -e "$e" ] || [ -L "$e" ]; then printf '%s ' "${e##*/}"; fi
    done
}

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

# --- step01: the UTS namespace -------------------------------------------------------
if wanted 1 && [ -x /bin/step01 ]; then
    run step01 --hostname box-1 hostname
    [ "$RC" -eq 0 ] && [ "$(cat /tmp/out)" = box-1 ] && [ "$(hostname)" = vmtest ]
    verdict step01_hostname $? "inside: $(printed); the VM's hostname: $(hostname)"

    run step01 sh -c 'exit 7'
    [ "$RC" -eq 7 ]
    verdict step01_exit_status $? "sh -c 'exit 7' gave $(printed)"
fi

# --- step02: the PID namespace ---------------------------------------------------------
if wanted 2 && [ -x /bin/step02 ]; then
    # shellcheck disable=SC2016 # expanded by the container's shell
    run step02 sh -c 'echo $$ $PPID'
    [ "$RC" -eq 0 ] && [ "$(cat /tmp/out)" = "2 1" ]
    verdict step02_pid $? "echo \$\$ \$PPID: $(printed) (want 2 1)"
fi

# --- step03: the mount namespace and pivot_root ------------------------------------------
if wanted 3 && [ -x /bin/step03 ]; then
    # The rootfs is the image's own: plain names, so ls is fine here.
    # shellcheck disable=SC2012
    want=$(ls /rootfs | tr '\n' ' ')
    mounts_before=$(wc -l </proc/self/mountinfo)
    run step03 --rootfs /rootfs ls /
    got=$(tr '\n' ' ' </tmp/out)
    [ "$RC" -eq 0 ] && [ "$got" = "$want" ]
    verdict step03_rootfs $? "ls / inside: [$got], /rootfs: [$want] ($(printed))"

    run step03 --rootfs /rootfs cat /etc/os-release
    grep -q '^ID=workshop-busybox$' /tmp/out
    verdict step03_os_release $? "$(printed)"

    mounts_after=$(wc -l </proc/self/mountinfo)
    [ "$mounts_before" -eq "$mounts_after" ]
    verdict step03_mounts_clean $? "the VM's mount table had $mounts_before lines before, $mounts_after after"
fi

# --- step04: the network namespace and veth ------------------------------------------------
if wanted 4 && [ -x /bin/step04 ]; then
    links_before=$(names /sys/class/net)
    # The default route points at the host end of the veth pair.
    # shellcheck disable=SC2016 # expanded by the container's shell
    run step04 --rootfs /rootfs sh -c \
        'ip addr show eth0 && ping -c 1 -W 5 "$(ip route | awk "/^default/ {print \$3}")"'
    grep -q 'inet 10\.200\.' /tmp/out && grep -q ' 0% packet loss' /tmp/out && [ "$RC" -eq 0 ]
    verdict step04_eth0 $? "--network veth: $(printed)"

    run step04 --rootfs /rootfs --network none ip -o link
    [ "$RC" -eq 0 ] && [ "$(awk '{print $2}' /tmp/out | tr '\n' ' ')" = "lo: " ]
    verdict step04_network_none $? "--network none: $(printed)"

    links_after=$(names /sys/class/net)
    [ "$links_before" = "$links_after" ]
    verdict step04_links_clean $? "the VM's links before: [$links_before], after: [$links_after]"
fi

# --- step05, step06: cgroup v2 limits ------------------------------------------------------
# The same checks for both steps: step06 keeps step05's cgroups.
cgroup_checks() {
    s=$1

    # A shell that keeps 256 MiB from a command substitution in memory
    # dies of the 32 MiB limit; memory.events tells the step it was the OOM
    # killer.
    run "$s" --rootfs /rootfs --memory 32M sh -c \
        "x=\$(head -c 268435456 /dev/zero | tr '\\0' a); echo survived"
    [ "$RC" -eq 137 ] && grep -q 'container was OOM-killed: memory limit 32 MiB' /tmp/err
    verdict "${s}_oom" $? "--memory 32M: $(printed) (want 137 and the OOM line)"

    # A fork loop hits pids.max: forks fail, and the container survives.
    # shellcheck disable=SC2016 # expanded by the container's shell
    run "$s" --rootfs /rootfs --pids 10 sh -c \
        '(i=0; while [ $i -lt 50 ]; do sleep 30 & i=$((i+1)); echo "forked $i"; done); echo alive'
    forks=$(grep -c '^forked' /tmp/out)
    grep -q '^alive$' /tmp/out && grep -qi 'fork' /tmp/err && [ "$forks" -lt 10 ] && [ "$RC" -eq 0 ]
    verdict "${s}_pids" $? "--pids 10: $forks forks succeeded; $(printed)"

    # A busy loop under --cpus 0.2, looked at from the VM while it runs.
    "$s" --rootfs /rootfs --cpus 0.2 --memory 64M --pids 20 sh -c 'while :; do :; done' \
        </dev/null >/tmp/out 2>/tmp/err &
    pid=$!
    cg=$WS/ws-$pid
    i=0
    while [ $i -lt 200 ] && ! grep -q . "$cg/cgroup.procs" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    if [ -d "$cg" ]; then
        limits="cpu.max=[$(cat "$cg/cpu.max")] memory.max=[$(cat "$cg/memory.max")] pids.max=[$(cat "$cg/pids.max")]"
        [ "$limits" = "cpu.max=[20000 100000] memory.max=[67108864] pids.max=[20]" ]
        verdict "${s}_limits_written" $? "$cg: $limits"

        root_sc=$(cat $CG/cgroup.subtree_control)
        ws_sc=$(cat $WS/cgroup.subtree_control)
        ok=0
        for c in cpu memory pids; do
            has " $root_sc " " $c " && has " $ws_sc " " $c " || ok=1
        done
        verdict "${s}_subtree_control" $ok "$CG: [$root_sc], $WS: [$ws_sc]"

        # Wait until the loop has run, then measure two seconds of it.
        sleep 1
        t1=$(awk '/^nr_throttled/ {print $2}' "$cg/cpu.stat")
        u1=$(awk '/^throttled_usec/ {print $2}' "$cg/cpu.stat")
        c1=$(awk '/^usage_usec/ {print $2}' "$cg/cpu.stat")
        w1=$(cut -d' ' -f1 /proc/uptime)
        sleep 2
        t2=$(awk '/^nr_throttled/ {print $2}' "$cg/cpu.stat")
        u2=$(awk '/^throttled_usec/ {print $2}' "$cg/cpu.stat")
        c2=$(awk '/^usage_usec/ {print $2}' "$cg/cpu.stat")
        w2=$(cut -d' ' -f1 /proc/uptime)
        # The share of one CPU the loop got, in percent.
        share=$(awk -v c="$((c2 - c1))" -v w1="$w1" -v w2="$w2" 'BEGIN { printf "%d", c / ((w2 - w1) * 10000) }')
        [ "$t2" -gt "$t1" ] && [ "$u2" -gt "$u1" ] && [ "$share" -le 35 ] && [ "$share" -ge 5 ]
        verdict "${s}_cpu_throttled" $? "nr_throttled $t1 -> $t2, throttled_usec $u1 -> $u2, the loop got $share% of a CPU (limit 20%)"
    else
        for c in limits_written subtree_control cpu_throttled; do
            fail "${s}_$c" "$cg never appeared: $(flat /tmp/err)"
        done
    fi
    # SIGTERM reaches the container's command; the step exits 128+15.
    kill -TERM "$pid"
    wait "$pid"
    RC=$?
    [ "$RC" -eq 143 ]
    verdict "${s}_sigterm" $? "kill -TERM of the step: $(printed) (want 143)"
    left=$(names "$WS" ws-)
    [ ! -e "$cg" ] && [ -z "$left" ]
    verdict "${s}_cgroup_removed" $? "$cg gone: $([ -e "$cg" ] && echo no || echo yes); left in $WS: [$left]"
}

if wanted 5 && [ -x /bin/step05 ]; then
    cgroup_checks step05
fi

# --- step06: capabilities ---------------------------------------------------------------
if wanted 6 && [ -x /bin/step06 ]; then
    cgroup_checks step06
    run step06 --rootfs /rootfs grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status
    grep -q '^CapEff:[[:space:]]*00000000a80425fb$' /tmp/out && grep -q '^NoNewPrivs:[[:space:]]*1$' /tmp/out
    verdict step06_caps $? "$(printed) (want Docker's CapEff 00000000a80425fb and NoNewPrivs 1)"
    # Docker's other defaults where cgroup v2 differs: the cgroup namespace
    # with a read-only cgroup2 at /sys/fs/cgroup, the BPF device program.
    run step06 --rootfs /rootfs sh -c 'cat /proc/self/cgroup; grep " /sys/fs/cgroup " /proc/self/mountinfo'
    grep -qx '0::/' /tmp/out && grep -q ' /sys/fs/cgroup ro,.* - cgroup2 ' /tmp/out
    verdict step06_cgroupns $? "$(printed) (want 0::/ and a read-only cgroup2 at /sys/fs/cgroup)"
    run step06 --rootfs /rootfs -v --cap-add SYS_ADMIN sh -c 'mkdir -p /tmp/d && mount -t tmpfs -o dev none /tmp/d && mknod /tmp/d/null c 1 3 && mknod /tmp/d/kmsg c 1 11 && { (: </tmp/d/null); echo null=$?; (: </tmp/d/kmsg); echo kmsg=$?; }; umount /tmp/d'
    grep -qx null=0 /tmp/out && grep -q '^kmsg=[1-9]' /tmp/out && grep -q 'BPF_PROG_ATTACH.* = 0' /tmp/err
    verdict step06_devices $? "rc=$RC out=[$(flat /tmp/out)] err=[$(grep -E 'bpf|kmsg|rror' /tmp/err | tr '\n' '|' | cut -c1-300)] (want null=0, kmsg=1, the program attached)"
    run step06 --rootfs /rootfs grep -E '^(CapPrm|NoNewPrivs):' /proc/1/status
    grep -q '^CapPrm:[[:space:]]*0000000000000020$' /tmp/out && grep -q '^NoNewPrivs:[[:space:]]*1$' /tmp/out
    verdict step06_pid1 $? "$(printed) (want PID 1 with CAP_KILL alone and NoNewPrivs 1)"
fi

echo "VMTEST DONE"
sync
poweroff -f
