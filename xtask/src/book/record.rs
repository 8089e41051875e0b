//! `cargo xtask book record`: runs the step binaries for real, as root (or,
//! for chapter 9, as the ordinary user [`BOOK_USER`]), and writes what they
//! print into `book/src/recorded/`.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::check::write_diffs;

/// How a recording runs its step.
#[derive(Clone, Copy)]
enum How {
    /// As root; the file shows the command line and everything it printed
    /// (stdout and stderr interleaved as they came).
    Root,
    /// As the unprivileged user 65534 (`setpriv`), to show the not-root error.
    Nobody,
    /// Starts the container with `args` (something that waits, like
    /// `sleep 5`), then runs each shell command on the host with `$PID` set
    /// to the container's process as the host sees it: the step's child
    /// (PID 1 inside) from step02 on, the step itself in step01.
    Experiment(&'static [&'static str]),
    /// As root, to the end; then each shell command on the host, with
    /// `$WORKSHOP_ROOTFS` set to the rootfs the run used: what a run left
    /// behind (or did not).
    After(&'static [&'static str]),
    /// As root, against a registry with token auth started on loopback
    /// for the recording (testkit's), holding one image pushed as
    /// `workshop/hello:1`; `{image}` in the arguments and the shown command
    /// is its reference. The store is an empty temporary one
    /// (WORKSHOP_IMAGE_STORE), so the pull is whole.
    Pull,
    /// Shell commands only, no step: run one after another in one `sh` as
    /// [`BOOK_USER`], each shown after `$ ` with its output (chapter 9's
    /// user namespace made by hand with `unshare`). `$ROOTFS` is the user's
    /// copy of the rootfs.
    Script(&'static [&'static str]),
}

/// Who a recording runs as, and with what around it.
#[derive(Clone, Copy, Default)]
struct AsUser {
    /// As [`BOOK_USER`] instead of root, with its home and its own copy of
    /// the rootfs (see [`book_user`]); the probes of [`How::Experiment`] and
    /// [`How::After`] run as that user too, as from a second shell of theirs.
    user: bool,
    /// Shell commands run as the user on the host before the step, shown.
    before: &'static [&'static str],
    /// Run in a private mount namespace in which a tun node of the
    /// recorder's own, mode 0666, is bind-mounted over /dev/net/tun: this
    /// host's is 0600, the lab VM's (and most distributions') 0666.
    tun: bool,
    /// Extra environment for the step (say so in the shown command line);
    /// none of today's recordings needs one.
    env: &'static [(&'static str, &'static str)],
    /// `--userns remap` as root: root needs a range in /etc/subuid and
    /// /etc/subgid (added for the recording when missing, and removed after);
    /// the shifted copy of the rootfs step09 keeps is removed after, when
    /// the recording made it.
    remap: bool,
}

/// One recorded run.
#[derive(Clone, Copy)]
pub struct Recording {
    /// File name under `book/src/recorded/`.
    pub file: &'static str,
    /// The command line as the reader types it, shown after `$ `.
    shown: &'static str,
    /// The step binary (a package of the workspace).
    bin: &'static str,
    /// Its arguments.
    args: &'static [&'static str],
    how: How,
    /// Show the exit status (`$ echo $?`) after the output.
    status: bool,
    /// Run with the rootfs (WORKSHOP_ROOTFS) set.
    rootfs: bool,
    /// Keep only the output lines that contain this, or one of its
    /// `|`-separated words (the shown command ends in `| grep` to say so).
    grep: Option<&'static str>,
    who: AsUser,
}

const fn rec(
    file: &'static str,
    shown: &'static str,
    bin: &'static str,
    args: &'static [&'static str],
) -> Recording {
    Recording {
        file,
        shown,
        bin,
        args,
        how: How::Root,
        status: false,
        rootfs: true,
        grep: None,
        who: AsUser {
            user: false,
            before: &[],
            tun: false,
            env: &[],
            remap: false,
        },
    }
}

/// A [`How::Script`] recording: `commands`, as [`BOOK_USER`].
const fn script(file: &'static str, commands: &'static [&'static str]) -> Recording {
    let mut r = rec(file, "", "", &[]).as_user();
    r.how = How::Script(commands);
    r
}

impl Recording {
    const fn with_status(mut self) -> Self {
        self.status = true;
        self
    }
    const fn run_as_nobody(mut self) -> Self {
        self.how = How::Nobody;
        self
    }
    const fn probing(mut self, commands: &'static [&'static str]) -> Self {
        self.how = How::Experiment(commands);
        self
    }
    const fn then_on_host(mut self, commands: &'static [&'static str]) -> Self {
        self.how = How::After(commands);
        self
    }
    const fn pulled_from_registry(mut self) -> Self {
        self.how = How::Pull;
        self
    }
    const fn no_rootfs(mut self) -> Self {
        self.rootfs = false;
        self
    }
    const fn grep(mut self, needle: &'static str) -> Self {
        self.grep = Some(needle);
        self
    }
    /// Runs as [`BOOK_USER`], on its own rootfs (not `WORKSHOP_ROOTFS`).
    const fn as_user(mut self) -> Self {
        self.who.user = true;
        self.rootfs = false;
        self
    }
    const fn first_as_user(mut self, commands: &'static [&'static str]) -> Self {
        self.who.before = commands;
        self
    }
    const fn with_tun(mut self) -> Self {
        self.who.tun = true;
        self
    }
    /// With `WORKSHOP_ROOTFS` set to the rootfs root's recordings use, which
    /// belongs to root: for the error an ordinary user gets with it.
    const fn with_roots_rootfs(mut self) -> Self {
        self.rootfs = true;
        self
    }
    const fn remap(mut self) -> Self {
        self.who.remap = true;
        self
    }

    /// Appends to `text` what the recording keeps of `output`: every line,
    /// or with [`Recording::grep`] the lines that contain one of its words.
    fn keep(&self, output: &str, text: &mut String) {
        match self.grep {
            Some(needle) => output
                .lines()
                .filter(|l| needle.split('|').any(|n| l.contains(n)))
                .for_each(|l| text.push_str(&format!("{l}\n"))),
            None => text.push_str(output),
        }
    }
}

const LONG_HOSTNAME: &str = "a-hostname-that-is-longer-than-the-sixty-four-bytes-the-kernel-allows";

/// Every recorded output of the book, in chapter order.
pub const RECORDINGS: &[Recording] = &[
    rec("doctor.txt", "cargo run -q -p doctor", "doctor", &[]).no_rootfs().with_status(),
    // chapter 0: the whole runtime on one page; `{rootfs}` becomes the rootfs the recording uses
    rec("minimal.txt", "cargo run -q -p minimal -- /var/lib/contain-rs-workshop/rootfs sh -c 'hostname; ps; ls /; ip link; exit 3'", "minimal", &["{rootfs}", "sh", "-c", "hostname; ps; ls /; ip link; exit 3"]).with_status(),
    rec("intro-step06.txt", "cargo run -q -p step06 -- --memory 64m --pids 32 --hostname web-1 sh -c 'hostname; ps; ip -o -4 addr'", "step06", &["--memory", "64m", "--pids", "32", "--hostname", "web-1", "sh", "-c", "hostname; ps; ip -o -4 addr"]),
    // chapter 1
    rec("step01-hostname.txt", "cargo run -q -p step01 -- -x --hostname box-1 hostname", "step01", &["-x", "--hostname", "box-1", "hostname"]),
    rec("step01-experiment.txt", "cargo run -q -p step01 -- --hostname box-1 sleep 5", "step01", &["--hostname", "box-1", "sleep", "5"]).probing(&[
        "hostname",
        "readlink /proc/$PID/ns/uts /proc/self/ns/uts",
        "nsenter --target $PID --uts hostname",
        "lsns --type uts --output NS,TYPE,NPROCS,PID,COMMAND",
    ]),
    // chapter 2
    rec("step01-host-pids.txt", "cargo run -q -p step01 -- sh -c 'echo \"my PID is $$\"; ps -e | wc -l; ps -o pid,comm -p 2,$$'", "step01", &["sh", "-c", "echo \"my PID is $$\"; ps -e | wc -l; ps -o pid,comm -p 2,$$"]).no_rootfs(),
    rec("step02-ps.txt", "cargo run -q -p step02 -- -x ps", "step02", &["-x", "ps"]),
    rec("step02-init.txt", "cargo run -q -p step02 -- -x sh -c '(sleep 0.1 &); sleep 0.5; kill -TERM 1; sleep 5' 2>&1 | grep -E 'fork|sigwait|kill|waitpid'", "step02", &["-x", "sh", "-c", "(sleep 0.1 &); sleep 0.5; kill -TERM 1; sleep 5"]).grep("fork|sigwait|kill|waitpid").with_status(),
    rec("step02-status.txt", "cargo run -q -p step02 -- sh -c 'sleep 1 & exit 3'", "step02", &["sh", "-c", "sleep 1 & exit 3"]).with_status(),
    rec("step02-experiment.txt", "cargo run -q -p step02 -- sleep 5", "step02", &["sleep", "5"]).probing(&[
        "grep -E '^(Name|NSpid)' /proc/$PID/status",
        "ps -o pid,ppid,comm --ppid $PID",
        "readlink /proc/$PID/ns/pid /proc/self/ns/pid",
        "nsenter --target $PID --pid --mount ps -o pid,comm",
    ]),
    // chapter 3
    rec("step02-host-root.txt", "cargo run -q -p step02 -- sh -c 'grep PRETTY_NAME /etc/os-release; ls /usr/bin | wc -l; which apt-get'", "step02", &["sh", "-c", "grep PRETTY_NAME /etc/os-release; ls /usr/bin | wc -l; which apt-get"]).no_rootfs(),
    rec("step03-ls.txt", "cargo run -q -p step03 -- -x ls /", "step03", &["-x", "ls", "/"]),
    rec("step03-mounts.txt", "cargo run -q -p step03 -- cat /proc/self/mountinfo", "step03", &["cat", "/proc/self/mountinfo"]),
    rec("step03-experiment.txt", "cargo run -q -p step03 -- sleep 5", "step03", &["sleep", "5"]).probing(&[
        "ls /proc/$PID/root",
        "findmnt --task $PID --output TARGET,SOURCE,FSTYPE,PROPAGATION",
        "findmnt --output TARGET,SOURCE,FSTYPE,PROPAGATION /proc",
    ]),
    // errors, for the troubleshooting chapter
    rec("error-not-root.txt", "./target/debug/step01 hostname        # as an ordinary user, without sudo", "step01", &["hostname"]).run_as_nobody().with_status().no_rootfs(),
    rec("error-no-rootfs.txt", "cargo run -q -p step03 -- --rootfs /srv/no-such-rootfs true", "step03", &["--rootfs", "/srv/no-such-rootfs", "true"]).with_status().no_rootfs(),
    rec("error-not-found.txt", "cargo run -q -p step03 -- no-such-command", "step03", &["no-such-command"]).with_status(),
    rec("error-long-hostname.txt", "cargo run -q -p step01 -- --hostname a-hostname-that-is-longer-than-the-sixty-four-bytes-the-kernel-allows true", "step01", &["--hostname", LONG_HOSTNAME, "true"]).with_status(),
    rec("error-bad-flag.txt", "cargo run -q -p step02 -- --hostnme box true", "step02", &["--hostnme", "box", "true"]).with_status(),
    rec("error-pivot-busy.txt", "cargo run -q -p step03 -- --rootfs / true", "step03", &["--rootfs", "/", "true"]).with_status().no_rootfs(),
    rec("error-rootfs-empty.txt", "cargo run -q -p step03 -- --rootfs /media true", "step03", &["--rootfs", "/media", "true"]).with_status().no_rootfs(),
    rec("error-bad-memory.txt", "cargo run -q -p step05 -- --memory 12XB true", "step05", &["--memory", "12XB", "true"]).with_status(),
    rec("error-bad-cap.txt", "cargo run -q -p step06 -- --cap-add bogus true", "step06", &["--cap-add", "bogus", "true"]).with_status(),
    rec("error-registry-down.txt", "cargo run -q -p step08 -- --image 127.0.0.1:9/nothing:1 true", "step08", &["--image", "127.0.0.1:9/nothing:1", "true"]).with_status().no_rootfs(),
    rec("error-bad-profile.txt", "cargo run -q -p step07 -- --security-opt seccomp=/etc/hostname true", "step07", &["--security-opt", "seccomp=/etc/hostname", "true"]).with_status(),
    // chapter 4
    rec("step03-host-net.txt", "cargo run -q -p step03 -- ip link | grep ': <'", "step03", &["ip", "link"]).grep(": <"),
    rec("step04-ip.txt", "cargo run -q -p step04 -- -x ip addr", "step04", &["-x", "ip", "addr"]),
    rec("step04-ping.txt", "cargo run -q -p step04 -- ping -c 1 host", "step04", &["ping", "-c", "1", "host"]),
    rec("step04-none.txt", "cargo run -q -p step04 -- --network none ip addr", "step04", &["--network", "none", "ip", "addr"]),
    rec("step04-experiment.txt", "cargo run -q -p step04 -- sleep 5", "step04", &["sleep", "5"]).probing(&[
        "readlink /proc/$PID/ns/net /proc/self/ns/net",
        "ip -brief address show type veth",
        "nsenter --target $PID --net ip -brief address",
        "nsenter --target $PID --net ip route",
    ]),
    // chapter 5
    rec("step04-no-limits.txt", "cargo run -q -p step04 -- sleep 5", "step04", &["sleep", "5"]).probing(&[
        "cmp /proc/$PID/cgroup /proc/self/cgroup && echo 'the same cgroups as this shell'",
        "find /sys/fs/cgroup -path \"*/contain-rs-workshop/ws-$RUNTIME\" | wc -l",
    ]),
    rec("step05-limits.txt", "cargo run -q -p step05 -- -x --memory 64m --cpus 0.5 --pids 32 true", "step05", &["-x", "--memory", "64m", "--cpus", "0.5", "--pids", "32", "true"]),
    rec("step05-oom.txt", "cargo run -q -p step05 -- --memory 16m sh -c 'x=$(head -c 64m /dev/zero | tr \"\\0\" a); echo ${#x}'", "step05", &["--memory", "16m", "sh", "-c", "x=$(head -c 64m /dev/zero | tr \"\\0\" a); echo ${#x}"]).with_status(),
    rec("step05-pids.txt", "cargo run -q -p step05 -- --pids 8 sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 2 & done; wait'", "step05", &["--pids", "8", "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 2 & done; wait"]).with_status(),
    rec("step05-experiment.txt", "cargo run -q -p step05 -- --memory 64m --cpus 0.5 --pids 32 sleep 5", "step05", &["--memory", "64m", "--cpus", "0.5", "--pids", "32", "sleep", "5"]).probing(&[
        "cat /proc/$PID/cgroup",
        "find /sys/fs/cgroup -path \"*/contain-rs-workshop/ws-$RUNTIME/*\" \\( -name memory.max -o -name memory.limit_in_bytes -o -name cpu.max -o -name cpu.cfs_quota_us -o -name 'pids.*' \\) -exec grep -H . {} +",
    ]),
    // chapter 6
    rec("step05-all-caps.txt", "cargo run -q -p step05 -- sh -c 'grep CapEff /proc/self/status; hostname x && hostname; mount -t tmpfs none /mnt && grep /mnt /proc/mounts'", "step05", &["sh", "-c", "grep CapEff /proc/self/status; hostname x && hostname; mount -t tmpfs none /mnt && grep /mnt /proc/mounts"]),
    rec("step06-caps.txt", "cargo run -q -p step06 -- -x --network none grep -E 'Cap|NoNewPrivs' /proc/self/status", "step06", &["-x", "--network", "none", "grep", "-E", "Cap|NoNewPrivs", "/proc/self/status"]),
    rec("step06-hostname.txt", "cargo run -q -p step06 -- hostname x", "step06", &["hostname", "x"]).with_status(),
    rec("step06-cap-add.txt", "cargo run -q -p step06 -- --cap-add SYS_ADMIN sh -c 'hostname x && hostname'", "step06", &["--cap-add", "SYS_ADMIN", "sh", "-c", "hostname x && hostname"]),
    rec("step06-defaults.txt", "cargo run -q -p step06 -- -x --network none -e GREETING=hi sh -c 'env; cat /proc/self/cgroup | head -3; wc -c < /proc/keys'", "step06", &["-x", "--network", "none", "-e", "GREETING=hi", "sh", "-c", "env; cat /proc/self/cgroup | head -3; wc -c < /proc/keys"]),
    rec("step06-devices.txt", "cargo run -q -p step06 -- --cap-add SYS_ADMIN sh -c 'mkdir /tmp/d && mount -t tmpfs -o dev none /tmp/d && mknod /tmp/d/kmsg c 1 11 && head -c 64 /tmp/d/kmsg'", "step06", &["--cap-add", "SYS_ADMIN", "sh", "-c", "mkdir /tmp/d && mount -t tmpfs -o dev none /tmp/d && mknod /tmp/d/kmsg c 1 11 && head -c 64 /tmp/d/kmsg"]).with_status(),
    rec("step06-experiment.txt", "cargo run -q -p step06 -- sleep 5", "step06", &["sleep", "5"]).probing(&[
        "grep -E 'Cap|NoNewPrivs' /proc/$PID/status",
        "grep -E 'Cap|NoNewPrivs' /proc/$(pgrep -P $PID)/status",
        "capsh --decode=00000000a80425fb",
    ]),
    // chapter 7
    rec("step06-userns.txt", "cargo run -q -p step06 -- --network none unshare -U -r sh -c 'id; grep CapEff /proc/self/status'", "step06", &["--network", "none", "unshare", "-U", "-r", "sh", "-c", "id; grep CapEff /proc/self/status"]),
    rec("step07-seccomp.txt", "cargo run -q -p step07 -- -x --network none grep Seccomp /proc/self/status 2>&1 | grep -i seccomp", "step07", &["-x", "--network", "none", "grep", "Seccomp", "/proc/self/status"]).grep("eccomp"),
    rec("step07-userns.txt", "cargo run -q -p step07 -- --network none unshare -U -r sh -c 'id'", "step07", &["--network", "none", "unshare", "-U", "-r", "sh", "-c", "id"]).with_status(),
    // chapter 8
    rec("step07-left-behind.txt", "cargo run -q -p step07 -- --network none sh -c 'echo written by a container > /etc/left-behind'", "step07", &["--network", "none", "sh", "-c", "echo written by a container > /etc/left-behind"]).then_on_host(&[
        "cat $WORKSHOP_ROOTFS/etc/left-behind",
        "rm $WORKSHOP_ROOTFS/etc/left-behind     # tidy up",
    ]),
    rec("step08-overlay.txt", "cargo run -q -p step08 -- --network none sh -c 'echo written by a container > /etc/left-behind; rm /bin/ls; ls /etc/left-behind /bin/ls'", "step08", &["--network", "none", "sh", "-c", "echo written by a container > /etc/left-behind; rm /bin/ls; ls /etc/left-behind /bin/ls"]).with_status().then_on_host(&[
        "ls -l $WORKSHOP_ROOTFS/bin/ls",
        "test -e $WORKSHOP_ROOTFS/etc/left-behind || echo 'no etc/left-behind in the rootfs'",
        "ls /var/lib/contain-rs-workshop/containers",
    ]),
    rec("step08-mount.txt", "cargo run -q -p step08 -- -x --network none true 2>&1 | grep -E 'overlay|pivot_root'", "step08", &["-x", "--network", "none", "true"]).grep("overlay|pivot_root"),
    rec("step08-experiment.txt", "cargo run -q -p step08 -- sh -c 'echo hi > /tmp/hello; rm /bin/ls; exec sleep 5'", "step08", &["sh", "-c", "echo hi > /tmp/hello; rm /bin/ls; exec sleep 5"]).probing(&[
        "findmnt --task $PID --noheadings --output FSTYPE,OPTIONS /",
        "find /var/lib/contain-rs-workshop/containers/ws-$RUNTIME/upper -path '*/tmp*'",
        "stat -c '%F %t:%T' /var/lib/contain-rs-workshop/containers/ws-$RUNTIME/upper/bin/ls",
    ]),
    rec("step08-pull.txt", "cargo run -q -p step08 -- -x --network none --image {image} 2>&1 | grep -E 'GET|hello from'", "step08", &["-x", "--network", "none", "--image", "{image}"]).no_rootfs().pulled_from_registry().grep("GET|hello from"),
    rec("step07-unconfined.txt", "cargo run -q -p step07 -- --network none --security-opt seccomp=unconfined unshare -U -r sh -c 'id'", "step07", &["--network", "none", "--security-opt", "seccomp=unconfined", "unshare", "-U", "-r", "sh", "-c", "id"]).with_status(),
    // chapter 9: as an ordinary user (the recorder's own, contain-rs-book), and as root
    rec("step08-host-root.txt", "cargo run -q -p step08 -- --network none sh -c 'echo hi > /tmp/mine; exec sleep 5'", "step08", &["--network", "none", "sh", "-c", "echo hi > /tmp/mine; exec sleep 5"]).probing(&[
        "ps -o user,pid,comm -p $PID",
        "ps -o user,pid,comm --ppid $PID",
        "cat /proc/$PID/uid_map",
        "stat -c '%U %n' /var/lib/contain-rs-workshop/containers/ws-$RUNTIME/upper/tmp/mine",
    ]),
    rec("step08-not-root.txt", "./target/debug/step08 true        # as an ordinary user, without sudo", "step08", &["true"]).run_as_nobody().with_status().no_rootfs(),
    rec("step09-id.txt", "cargo run -q -p step09 -- --network none sh -c 'id; cat /proc/self/uid_map /proc/self/gid_map'", "step09", &["--network", "none", "sh", "-c", "id; cat /proc/self/uid_map /proc/self/gid_map"]).as_user().first_as_user(&[
        "id",
        "grep contain-rs-book /etc/subuid /etc/subgid",
    ]),
    rec("step09-handshake.txt", "cargo run -q -p step09 -- -x --network none true 2>&1 | grep -E 'clone3\\(|newgidmap|newuidmap|setres'", "step09", &["-x", "--network", "none", "true"]).as_user().grep("clone3(|newgidmap|newuidmap|setres"),
    script("userns-by-hand.txt", &[
        "unshare --user sleep 30 &",
        "PID=$!; sleep 0.5",
        "cat /proc/$PID/uid_map /proc/$PID/setgroups",
        "echo \"0 $(id -g) 1\" | tee /proc/$PID/gid_map",
        "echo deny | tee /proc/$PID/setgroups",
        "echo \"0 $(id -g) 1\" | tee /proc/$PID/gid_map",
        "echo \"0 $(id -u) 1\" | tee /proc/$PID/uid_map",
        "echo \"0 $(id -u) 1\" | tee /proc/$PID/uid_map",
        "cat /proc/$PID/uid_map",
        "kill $PID",
    ]),
    rec("step09-experiment.txt", "cargo run -q -p step09 -- --network none sh -c 'echo hi > /tmp/mine; chown 1000:1000 /tmp/mine; exec sleep 5'", "step09", &["--network", "none", "sh", "-c", "echo hi > /tmp/mine; chown 1000:1000 /tmp/mine; exec sleep 5"]).as_user().probing(&[
        "ps -o user:16,pid,comm -p $PID",
        "ps -o user:16,pid,comm --ppid $PID",
        "cat /proc/$PID/uid_map",
        "ls -ln ~/.local/share/contain-rs-workshop/containers/ws-$RUNTIME/upper/tmp",
    ]),
    rec("step09-chown.txt", "cargo run -q -p step09 -- --network none sh -c 'touch /tmp/f; chown 1000:1000 /tmp/f; ls -ln /tmp/f'", "step09", &["--network", "none", "sh", "-c", "touch /tmp/f; chown 1000:1000 /tmp/f; ls -ln /tmp/f"]).as_user().then_on_host(&[
        "find ~/.local/share/contain-rs-workshop/containers -mindepth 1 | wc -l",
    ]),
    rec("step09-cap-add.txt", "cargo run -q -p step09 -- --network none --cap-add SYS_ADMIN sh -c 'grep CapEff /proc/self/status; mount -t tmpfs none /mnt && echo tmpfs mounted; mount -t ext4 /dev/sda /mnt; mknod /tmp/sda b 8 0'", "step09", &["--network", "none", "--cap-add", "SYS_ADMIN", "sh", "-c", "grep CapEff /proc/self/status; mount -t tmpfs none /mnt && echo tmpfs mounted; mount -t ext4 /dev/sda /mnt; mknod /tmp/sda b 8 0"]).as_user().with_status(),
    script("userns-proc-after-pivot.txt", &[
        "cd $ROOTFS      # ~/.local/share/contain-rs-workshop/rootfs",
        "unshare --user --map-root-user --mount --pid --fork sh -c 'mount --rbind . . && cd $PWD && pivot_root . . && umount -l . && mount -t proc proc /proc'",
        "unshare --user --map-root-user --mount --pid --fork sh -c 'mount --rbind . . && cd $PWD && mount -t proc proc proc && pivot_root . . && umount -l . && grep proc /proc/mounts'",
    ]),
    rec("step09-network-here.txt", "cargo run -q -p step09 -- ip -o -4 addr", "step09", &["ip", "-o", "-4", "addr"]).as_user(),
    rec("step09-pasta.txt", "cargo run -q -p step09 -- -x sh -c 'ip -o -4 addr; ip route' 2>&1 | grep -E 'pasta|eth0|lo '", "step09", &["-x", "sh", "-c", "ip -o -4 addr; ip route"]).as_user().with_tun().grep("pasta|eth0|lo "),
    rec("step09-remap.txt", "sudo ./target/debug/step09 -x --userns remap --network none true 2>&1 | grep -E 'copy|clone3\\(|gid_map|uid_map|setres'", "step09", &["-x", "--userns", "remap", "--network", "none", "true"]).remap().grep("copy|clone3(|gid_map|uid_map|setres"),
    rec("step09-remap-experiment.txt", "sudo ./target/debug/step09 --userns remap --network none sh -c 'echo hi > /tmp/mine; exec sleep 5'", "step09", &["--userns", "remap", "--network", "none", "sh", "-c", "echo hi > /tmp/mine; exec sleep 5"]).remap().probing(&[
        "ps -o user,pid,comm -p $PID",
        "cat /proc/$PID/uid_map",
        "stat -c '%u:%g %n' /var/lib/contain-rs-workshop/containers/ws-$RUNTIME/upper/tmp/mine",
        "ls -ln /var/lib/contain-rs-workshop/containers/remap-*/*/bin/busybox",
    ]),
    // errors of chapter 9
    rec("error-userns-veth.txt", "cargo run -q -p step09 -- --network veth true", "step09", &["--network", "veth", "true"]).as_user().with_status(),
    rec("error-userns-limits.txt", "cargo run -q -p step09 -- --network none --memory 64m true", "step09", &["--network", "none", "--memory", "64m", "true"]).as_user().with_status(),
    rec("error-userns-rootfs.txt", "cargo run -q -p step09 -- --network none true      # WORKSHOP_ROOTFS: root's rootfs, as in chapters 3 to 8", "step09", &["--network", "none", "true"]).as_user().with_roots_rootfs().with_status(),
    rec("error-userns-host.txt", "cargo run -q -p step09 -- --userns host true", "step09", &["--userns", "host", "true"]).as_user().with_status(),
];

/// Re-runs every recording (see [`RECORDINGS`]) and rewrites its file.
pub fn record() -> Result<()> {
    record_only(&[])
}

pub(super) fn record_only(only: &[String]) -> Result<()> {
    write_diffs(&crate::workspace_root())?;
    if !nix::unistd::geteuid().is_root() {
        bail!("recording runs the steps, which needs root: sudo -E cargo xtask book record");
    }
    let root = crate::workspace_root();
    let chosen: Vec<&Recording> = RECORDINGS
        .iter()
        .filter(|r| only.is_empty() || only.iter().any(|o| r.file.contains(o.as_str())))
        .collect();
    if chosen.is_empty() {
        bail!("no recording matches {only:?}");
    }
    let mut packages: Vec<&str> = chosen.iter().map(|r| r.bin).collect();
    packages.retain(|p| !p.is_empty()); // How::Script runs no step
    packages.sort();
    packages.dedup();
    let mut build = Command::new("cargo");
    build.arg("build").current_dir(&root);
    for p in &packages {
        build.args(["-p", p]);
    }
    if !build.status()?.success() {
        bail!("cargo build {packages:?} failed");
    }
    let rootfs = rootfs_for_recording()?;
    eprintln!("book record: rootfs {}", rootfs.display());
    let out_dir = root.join("book/src/recorded");
    fs::create_dir_all(&out_dir)?;
    let bins = root.join("target/debug");
    let user = if chosen.iter().any(|r| r.who.user) {
        let user = book_user(&rootfs)?;
        eprintln!(
            "book record: user {BOOK_USER} (uid {}), home {}",
            user.uid,
            user.home.display()
        );
        Some(user)
    } else {
        None
    };
    let mut failed = Vec::new();
    for rec in chosen {
        let recorded = {
            let ctx = Ctx {
                rootfs: &rootfs,
                user: user.as_ref(),
            };
            RemapGuard::for_recording(rec).and_then(|guard| {
                let text = record_one(rec, &bins.join(rec.bin), &ctx);
                drop(guard);
                text
            })
        };
        let text = match recorded {
            Ok(text) => text,
            Err(err) => {
                eprintln!("book record: ✘ {}: {err:#}", rec.file);
                failed.push(rec.file);
                continue;
            }
        };
        fs::write(out_dir.join(rec.file), &text)?;
        eprintln!(
            "book record: wrote book/src/recorded/{} ({} lines)",
            rec.file,
            text.lines().count()
        );
    }
    if !failed.is_empty() {
        bail!(
            "book record: {} recording(s) failed: {}",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// The Alpine rootfs where the fetcher put it, or else the busybox test rootfs.
fn rootfs_for_recording() -> Result<PathBuf> {
    let alpine = PathBuf::from("/var/lib/contain-rs-workshop/rootfs");
    if alpine.join("etc/alpine-release").is_file() {
        return Ok(alpine);
    }
    testkit::rootfs::busybox_rootfs()
}

const LIMIT: Duration = Duration::from_secs(30);

/// What every recording may need: the rootfs root runs use, and the user.
struct Ctx<'a> {
    rootfs: &'a Path,
    user: Option<&'a BookUser>,
}

impl Ctx<'_> {
    /// The command that runs `program` as the recording says: as root, or
    /// as [`BOOK_USER`] (through `setpriv`, with the user's environment and
    /// home), in a private mount namespace with a tun node of our own when
    /// asked.
    fn command(
        &self,
        rec: &Recording,
        program: &Path,
    ) -> Result<(Command, Option<tempfile::TempDir>)> {
        if !rec.who.user {
            let mut cmd = Command::new(program);
            cmd.envs(rec.who.env.iter().copied());
            return Ok((cmd, None));
        }
        let user = self.user.context("a user recording without the user")?;
        let mut inner: Vec<std::ffi::OsString> = vec![
            user.setpriv.clone().into(),
            format!("--reuid={}", user.uid).into(),
            format!("--regid={}", user.gid).into(),
            "--init-groups".into(),
            "--".into(),
            program.into(),
        ];
        let mut guard = None;
        let mut cmd = if rec.who.tun {
            let dir = tun_node()?;
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
                .arg("mount --bind \"$0\" /dev/net/tun && exec \"$@\"")
                .arg(dir.path().join("tun"))
                .args(inner.drain(..));
            guard = Some(dir);
            c
        } else {
            let mut c = Command::new(inner.remove(0));
            c.args(inner);
            c
        };
        cmd.env_clear()
            .env("HOME", &user.home)
            .env("USER", BOOK_USER)
            .env("LOGNAME", BOOK_USER)
            .env("PATH", USER_PATH)
            .env("LANG", "C.UTF-8")
            .envs(rec.who.env.iter().copied())
            .current_dir(&user.home);
        Ok((cmd, guard))
    }

    /// A host shell command (a probe), as root or as the recording's user.
    fn shell(&self, rec: &Recording, script: &str) -> Result<Command> {
        let mut probe = *rec;
        probe.who.tun = false;
        probe.who.env = &[];
        let (mut cmd, _) = self.command(&probe, Path::new("/bin/sh"))?;
        cmd.args(["-c", script]);
        Ok(cmd)
    }
}

fn record_one(rec: &Recording, bin: &Path, ctx: &Ctx) -> Result<String> {
    if let How::Pull = rec.how {
        return record_pull(rec, bin);
    }
    if let How::Script(commands) = rec.how {
        return record_script(rec, commands, ctx);
    }
    let rootfs = ctx.rootfs;
    let mut text = String::new();
    for command in rec.who.before {
        let (out, code) = run_merged(ctx.shell(rec, command)?, None)?;
        text.push_str(&format!("$ {command}\n{out}"));
        if code != 0 {
            bail!("`{command}` exited {code}: {out}");
        }
    }
    text.push_str(&format!("$ {}\n", rec.shown));
    let code = match rec.how {
        How::Pull | How::Script(_) => unreachable!("recorded above"),
        How::Root | How::Nobody | How::After(_) => {
            let mut _guard = None;
            let mut _tun = None;
            let mut cmd = match rec.how {
                How::Nobody => {
                    // A copy that user 65534 can run, at ./target/debug/ of
                    // a scratch directory, so that the message shows the
                    // path a learner would type.
                    let dir = nobody_copy(bin)?;
                    let mut c = Command::new("setpriv");
                    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                        .arg(Path::new("./target/debug").join(rec.bin))
                        .current_dir(dir.path());
                    _guard = Some(dir);
                    c
                }
                _ => {
                    let (c, tun) = ctx.command(rec, bin)?;
                    _tun = tun;
                    c
                }
            };
            // `minimal` takes the rootfs as its first argument, not from the environment.
            let path = rootfs.display().to_string();
            cmd.args(rec.args.iter().map(|a| a.replace("{rootfs}", &path)));
            let (output, code) = run_merged(cmd, rec.rootfs.then_some(rootfs))?;
            rec.keep(&output, &mut text);
            if let How::After(probes) = rec.how {
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                if rec.status {
                    text.push_str(&format!("$ echo $?\n{code}\n"));
                }
                text.push_str("\n# on the host, afterwards:\n");
                for probe in probes {
                    let (out, probe_code) =
                        run_merged(ctx.shell(rec, probe)?, (!rec.who.user).then_some(rootfs))?;
                    text.push_str(&format!("$ {probe}\n{out}"));
                    if probe_code != 0 {
                        bail!("the probe `{probe}` exited {probe_code}: {out}");
                    }
                }
            }
            code
        }
        How::Experiment(probes) => {
            let (output, code) = experiment(rec, bin, ctx, probes)?;
            text.push_str(&output);
            code
        }
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    if rec.status && !matches!(rec.how, How::After(_)) {
        text.push_str(&format!("$ echo $?\n{code}\n"));
    } else if code != 0 && !rec.status {
        bail!("{} exited {code}:\n{text}", rec.shown);
    }
    Ok(text)
}

/// A [`How::Script`] recording: one `sh` as the user runs the commands in
/// turn (so that a variable set by one is there for the next), printing
/// each after `$ ` before it runs. A command that fails is recorded as it
/// failed: these recordings show the kernel saying no.
fn record_script(rec: &Recording, commands: &[&str], ctx: &Ctx) -> Result<String> {
    let user = ctx.user.context("a script recording without the user")?;
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut script = format!("ROOTFS={}\n", quote(&user.rootfs.display().to_string()));
    for command in commands {
        script.push_str(&format!("printf '$ %s\\n' {}\n{command}\n", quote(command)));
    }
    let cmd = ctx.shell(rec, &script)?;
    let (output, _) = run_merged(cmd, None)?;
    Ok(output)
}

/// A [`How::Pull`] recording: a loopback registry with token auth and one
/// image, an empty store, one run.
fn record_pull(rec: &Recording, bin: &Path) -> Result<String> {
    use testkit::oci::{Config, Image};
    let registry = testkit::registry::Registry::token()?;
    let image = Image::on_busybox(
        Config::shell().cmd(&["echo", "hello from an image"]),
        vec![],
    )?;
    registry.push(&image, "workshop/hello", "1")?;
    let reference = registry.reference("workshop/hello", "1");
    let store = tempfile::Builder::new()
        .prefix("book-record-store-")
        .tempdir()?;
    let mut text = format!("$ {}\n", rec.shown.replace("{image}", &reference));
    let mut cmd = Command::new(bin);
    cmd.args(rec.args.iter().map(|a| a.replace("{image}", &reference)))
        .env("WORKSHOP_IMAGE_STORE", store.path());
    let (output, code) = run_merged(cmd, None)?;
    rec.keep(&output, &mut text);
    if code != 0 {
        bail!("{} exited {code}:\n{output}", rec.shown);
    }
    Ok(text)
}

/// `DIR/target/debug/BIN`, readable and executable by everyone.
fn nobody_copy(bin: &Path) -> Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new().prefix("book-record-").tempdir()?;
    let debug = dir.path().join("target/debug");
    fs::create_dir_all(&debug)?;
    for d in [dir.path(), &dir.path().join("target"), &debug] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755))?;
    }
    let copy = debug.join(bin.file_name().unwrap_or_default());
    fs::copy(bin, &copy)?;
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755))?;
    Ok(dir)
}

/// Runs `cmd` with stdout and stderr into one file, so they interleave in
/// the order they were written, and returns that text and the exit code.
fn run_merged(mut cmd: Command, rootfs: Option<&Path>) -> Result<(String, i32)> {
    let log = tempfile::tempfile()?;
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .env_remove("WORKSHOP_ROOTFS");
    if let Some(rootfs) = rootfs {
        cmd.env("WORKSHOP_ROOTFS", rootfs);
    }
    let mut child = cmd.spawn().context("start")?;
    let status = testkit::run::wait_limited(&mut child, LIMIT).map_err(anyhow::Error::msg)?;
    Ok((read_all(log)?, testkit::run::code(status)))
}

fn read_all(mut file: fs::File) -> Result<String> {
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Starts the container, waits until its command runs, then runs the
/// probes on the host, one `$ command` and its output at a time.
fn experiment(rec: &Recording, bin: &Path, ctx: &Ctx, probes: &[&str]) -> Result<(String, i32)> {
    let log = tempfile::tempfile()?;
    let (mut cmd, _tun) = ctx.command(rec, bin)?;
    cmd.args(rec.args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?);
    if rec.rootfs {
        cmd.env("WORKSHOP_ROOTFS", ctx.rootfs);
    }
    let mut child = cmd.spawn().context("start the container")?;
    let result = (|| -> Result<String> {
        let runtime = child.id();
        // step01 becomes the command itself; later steps have a PID 1 child
        // whose own child is the command.
        let (pid, command) = if rec.bin == "step01" {
            (runtime, runtime)
        } else {
            let init = wait_for(|| testkit::host::children_of(runtime).first().copied())?;
            let cmd = wait_for(|| testkit::host::children_of(init).first().copied())?;
            (init, cmd)
        };
        // Until exec, the command's name is still the step's.
        // `sh -c '...; exec sleep 5'`: the name after the last `exec`.
        let mut expected = rec.args[rec.args.len() - 2];
        if expected == "-c" {
            let script = rec.args[rec.args.len() - 1];
            expected = script
                .rsplit("exec ")
                .next()
                .and_then(|s| s.split_whitespace().next())
                .unwrap_or("sh");
        }
        wait_for(|| {
            let comm = fs::read_to_string(format!("/proc/{command}/comm")).ok()?;
            (comm.trim() == expected).then_some(())
        })?;
        // step01's process is the command itself once it has exec'd: pgrep
        // finds it by the command's name, not by step01's. The line is run,
        // and must find the pid it says.
        let name = if rec.bin == "step01" {
            expected
        } else {
            rec.bin
        };
        let found = Command::new("pgrep").args(["-n", name]).output()?;
        let found = String::from_utf8_lossy(&found.stdout).trim().to_owned();
        if found != pid.to_string() {
            bail!("`pgrep -n {name}` found {found:?}, not the container's {pid}");
        }
        let mut out = format!(
            "\n# in a second shell on the host{}:\n$ PID=$(pgrep -n {})       # the container's {}; here {pid}\n",
            if rec.who.user {
                ", as the same user"
            } else {
                ""
            },
            name,
            if rec.bin == "step01" {
                "process"
            } else {
                "PID 1, as the host numbers it"
            }
        );
        if probes.iter().any(|p| p.contains("$RUNTIME")) {
            out.push_str(&format!(
                "$ RUNTIME=$(pgrep -o {})   # the runtime itself, PID 1's parent; here {runtime}\n",
                rec.bin
            ));
        }
        for probe in probes {
            let mut sh = ctx.shell(rec, probe)?;
            sh.env("PID", pid.to_string())
                .env("RUNTIME", runtime.to_string());
            let (text, code) = run_merged(sh, None)?;
            out.push_str(&format!("$ {probe}\n{text}"));
            if code != 0 {
                bail!("the probe `{probe}` exited {code}: {text}");
            }
        }
        Ok(out)
    })();
    let status = testkit::run::wait_limited(&mut child, LIMIT).map_err(anyhow::Error::msg);
    let probes = result?;
    let code = testkit::run::code(status?);
    Ok((format!("{}{probes}", read_all(log)?), code))
}

/// The ordinary user chapter 9's recordings run as: made by the recorder
/// when missing (`useradd`), with the subordinate range [`BOOK_SUBIDS`] in
/// /etc/subuid and /etc/subgid, and kept (as the grader keeps its build
/// user); `userdel --remove contain-rs-book` removes it with its home and
/// its ranges.
pub const BOOK_USER: &str = "contain-rs-book";

/// The range `usermod --add-subuids/--add-subgids` gives [`BOOK_USER`],
/// `START-END` inclusive, if it overlaps no range the files already hold.
const BOOK_SUBIDS: (u32, u32) = (600_000, 665_535);

/// The user's PATH: newuidmap, pasta and slirp4netns are in /usr/bin.
const USER_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

/// [`BOOK_USER`], ready to run step09.
struct BookUser {
    uid: u32,
    gid: u32,
    home: PathBuf,
    /// The user's own copy of the rootfs, where step09 looks by default.
    rootfs: PathBuf,
    setpriv: PathBuf,
}

/// Makes [`BOOK_USER`] ready (idempotently): the user, its subordinate
/// ranges, its home, and a fresh copy of `rootfs` in
/// `~/.local/share/contain-rs-workshop/rootfs`, owned by the user, as
/// `rootfs-fetcher` run as the user would leave it.
fn book_user(rootfs: &Path) -> Result<BookUser> {
    use std::os::unix::fs::PermissionsExt;
    let home = PathBuf::from("/home").join(BOOK_USER);
    if nix::unistd::User::from_name(BOOK_USER)?.is_none() {
        let out = Command::new("useradd")
            // No range from login.defs (SUB_UID_MIN...): the one below,
            // the same on every machine, so that the recordings are.
            .args(["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"])
            .args([
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ])
            .arg("--home-dir")
            .arg(&home)
            .args([
                "--comment",
                "contain-rs-workshop book recordings (chapter 9)",
                BOOK_USER,
            ])
            .stdin(Stdio::null())
            .output()
            .context("run useradd (package passwd)")?;
        if !out.status.success() && out.status.code() != Some(9) {
            bail!(
                "useradd {BOOK_USER}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    let user = nix::unistd::User::from_name(BOOK_USER)?
        .with_context(|| format!("useradd made no user {BOOK_USER}"))?;
    let (uid, gid) = (user.uid.as_raw(), user.gid.as_raw());
    let mut add = Vec::new();
    for (file, flag) in [
        ("/etc/subuid", "--add-subuids"),
        ("/etc/subgid", "--add-subgids"),
    ] {
        let text = fs::read_to_string(file).unwrap_or_default();
        if has_range(&text, BOOK_USER, uid) {
            continue;
        }
        if let Some(line) = overlapping(&text, BOOK_SUBIDS) {
            bail!(
                "{file}: the range {}-{} for {BOOK_USER} overlaps `{line}`; give {BOOK_USER} a \
                 free range of 65536 IDs yourself (usermod {flag} START-END {BOOK_USER})",
                BOOK_SUBIDS.0,
                BOOK_SUBIDS.1
            );
        }
        add.push(flag);
    }
    if !add.is_empty() {
        let range = format!("{}-{}", BOOK_SUBIDS.0, BOOK_SUBIDS.1);
        let mut usermod = Command::new("usermod");
        for flag in &add {
            usermod.args([*flag, range.as_str()]);
        }
        let out = usermod.arg(BOOK_USER).output().context("run usermod")?;
        if !out.status.success() {
            bail!(
                "usermod {add:?} {range} {BOOK_USER}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    let owned = |dir: &Path| -> Result<()> {
        if !dir.is_dir() {
            fs::create_dir(dir).with_context(|| format!("mkdir {}", dir.display()))?;
        }
        std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
        Ok(())
    };
    let data = home.join(".local/share/contain-rs-workshop");
    for dir in [
        home.clone(),
        home.join(".local"),
        home.join(".local/share"),
        data.clone(),
    ] {
        owned(&dir)?;
    }
    // No run directories of earlier runs (a killed recording's): the
    // recordings look at what a run leaves.
    let runs = data.join("containers");
    if runs.symlink_metadata().is_ok() {
        fs::remove_dir_all(&runs).with_context(|| format!("rm -r {}", runs.display()))?;
    }
    // A fresh copy each time: the recordings show the rootfs as it is now.
    let copy = data.join("rootfs");
    if copy.symlink_metadata().is_ok() {
        fs::remove_dir_all(&copy).with_context(|| format!("rm -r {}", copy.display()))?;
    }
    let status = Command::new("cp")
        .arg("-a")
        .arg(rootfs)
        .arg(&copy)
        .status()?;
    if !status.success() {
        bail!("cp -a {} {}: {status}", rootfs.display(), copy.display());
    }
    let status = Command::new("chown")
        .args(["-R", "--no-dereference", &format!("{uid}:{gid}")])
        .arg(&copy)
        .status()?;
    if !status.success() {
        bail!("chown -R {uid}:{gid} {}: {status}", copy.display());
    }
    let setpriv = which("setpriv").context("setpriv (util-linux) is not installed")?;
    Ok(BookUser {
        uid,
        gid,
        home,
        rootfs: copy,
        setpriv,
    })
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Whether /etc/subuid (or /etc/subgid) `text` gives `name` (or `id`) a
/// range of at least 65536 IDs.
fn has_range(text: &str, name: &str, id: u32) -> bool {
    ranges(text).any(|(who, _, count)| (who == name || who == id.to_string()) && count >= 65536)
}

/// The first line of `text` whose range shares an ID with `want` (inclusive).
fn overlapping(text: &str, want: (u32, u32)) -> Option<String> {
    ranges(text)
        .find(|&(_, start, count)| {
            let end = u64::from(start) + u64::from(count); // exclusive
            u64::from(want.0) < end && u64::from(start) <= u64::from(want.1)
        })
        .map(|(who, start, count)| format!("{who}:{start}:{count}"))
}

fn ranges(text: &str) -> impl Iterator<Item = (&str, u32, u32)> + '_ {
    text.lines().filter_map(|line| {
        let mut parts = line.trim().split(':');
        let who = parts.next()?;
        let start = parts.next()?.parse().ok()?;
        let count = parts.next()?.parse().ok()?;
        Some((who, start, count))
    })
}

/// A character device 10:200 (the tun/tap clone device), mode 0666, in a
/// temporary directory of its own on a filesystem without `nodev`, for
/// [`AsUser::tun`].
fn tun_node() -> Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("book-record-tun-")
        .tempdir_in(crate::workspace_root().join("target"))?;
    let node = dir.path().join("tun");
    nix::sys::stat::mknod(
        &node,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(10, 200),
    )
    .with_context(|| format!("mknod {}", node.display()))?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&node, fs::Permissions::from_mode(0o666))?;
    Ok(dir)
}

/// What a `--userns remap` recording changed on the host, undone when
/// dropped: root's subordinate ranges if the recording added them, and
/// step09's shifted copy of the layers for that range if the recording
/// made it.
struct RemapGuard {
    added: Vec<(&'static str, String)>,
    cache: Option<PathBuf>,
}

/// The range a `--userns remap` recording adds for root when root has none.
const ROOT_SUBIDS: (u32, u32) = (1_000_000, 1_065_535);

/// Where step09 keeps the shifted copies (its default `--container-dir`).
const CONTAINER_DIR: &str = "/var/lib/contain-rs-workshop/containers";

impl RemapGuard {
    fn for_recording(rec: &Recording) -> Result<Option<RemapGuard>> {
        if !rec.who.remap {
            return Ok(None);
        }
        let mut guard = RemapGuard {
            added: Vec::new(),
            cache: None,
        };
        let mut starts = Vec::new();
        for (file, add, del) in [
            ("/etc/subuid", "--add-subuids", "--del-subuids"),
            ("/etc/subgid", "--add-subgids", "--del-subgids"),
        ] {
            let text = fs::read_to_string(file).unwrap_or_default();
            let existing = ranges(&text)
                .find(|&(who, _, count)| (who == "root" || who == "0") && count >= 65536)
                .map(|(_, start, _)| start);
            if let Some(start) = existing {
                starts.push(start);
                continue;
            }
            if let Some(line) = overlapping(&text, ROOT_SUBIDS) {
                bail!(
                    "{file} gives root no range and {}-{} overlaps `{line}`: add one for root \
                     yourself (usermod {add} START-END root)",
                    ROOT_SUBIDS.0,
                    ROOT_SUBIDS.1
                );
            }
            let range = format!("{}-{}", ROOT_SUBIDS.0, ROOT_SUBIDS.1);
            let out = Command::new("usermod")
                .args([add, range.as_str(), "root"])
                .output()?;
            if !out.status.success() {
                bail!(
                    "usermod {add} {range} root: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            eprintln!("book record: usermod {add} {range} root (removed after the recording)");
            guard.added.push((del, range));
            starts.push(ROOT_SUBIDS.0);
        }
        let cache = Path::new(CONTAINER_DIR).join(format!("remap-{}.{}", starts[0], starts[1]));
        if cache.symlink_metadata().is_err() {
            guard.cache = Some(cache);
        }
        Ok(Some(guard))
    }
}

impl Drop for RemapGuard {
    fn drop(&mut self) {
        if let Some(cache) = &self.cache {
            if let Err(e) = fs::remove_dir_all(cache) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    eprintln!("book record: rm -r {}: {e}", cache.display());
                }
            }
        }
        for (del, range) in &self.added {
            let ok = Command::new("usermod")
                .args([del, range.as_str(), "root"])
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("book record: usermod {del} {range} root failed: remove it by hand");
            }
        }
    }
}

fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("the container did not start within 5 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_recording_has_a_unique_file() {
        let files: BTreeSet<&str> = RECORDINGS.iter().map(|r| r.file).collect();
        assert_eq!(files.len(), RECORDINGS.len());
        assert!(RECORDINGS.iter().all(|r| r.file.ends_with(".txt")));
    }

    #[test]
    fn subordinate_ranges_and_their_overlaps() {
        let text = "root:100000:65536\nwsdev:165536:65536\n1002:600000:65536\nbad line\n";
        assert!(has_range(text, "root", 0));
        assert!(has_range(text, "contain-rs-book", 1002), "by uid");
        assert!(has_range(text, "wsdev", 1001));
        assert!(!has_range("small:1:100\n", "small", 5));
        assert_eq!(
            overlapping(text, (600_000, 665_535)).as_deref(),
            Some("1002:600000:65536")
        );
        assert_eq!(
            overlapping(text, (231_072, 296_607)),
            None,
            "right after wsdev's"
        );
        assert_eq!(
            overlapping(text, (231_071, 231_071)).as_deref(),
            Some("wsdev:165536:65536"),
            "its last ID"
        );
        assert_eq!(overlapping(text, (1_000_000, 1_065_535)), None);
    }
}
