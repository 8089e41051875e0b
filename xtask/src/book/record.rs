//! `cargo xtask book record`: runs the step binaries for real, as root, and
//! writes what they print into `book/src/recorded/`.

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
}

/// One recorded run.
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
    }
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
    rec("step02-ps.txt", "cargo run -q -p step02 -- -x ps", "step02", &["-x", "ps"]),
    rec("step02-status.txt", "cargo run -q -p step02 -- sh -c 'sleep 1 & exit 3'", "step02", &["sh", "-c", "sleep 1 & exit 3"]).with_status(),
    rec("step02-experiment.txt", "cargo run -q -p step02 -- sleep 5", "step02", &["sleep", "5"]).probing(&[
        "grep -E '^(Name|NSpid)' /proc/$PID/status",
        "ps -o pid,ppid,comm --ppid $PID",
        "readlink /proc/$PID/ns/pid /proc/self/ns/pid",
        "nsenter --target $PID --pid --mount ps -o pid,comm",
    ]),
    // chapter 3
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
    rec("step05-limits.txt", "cargo run -q -p step05 -- -x --memory 64m --cpus 0.5 --pids 32 true", "step05", &["-x", "--memory", "64m", "--cpus", "0.5", "--pids", "32", "true"]),
    rec("step05-oom.txt", "cargo run -q -p step05 -- --memory 16m sh -c 'x=$(head -c 64m /dev/zero | tr \"\\0\" a); echo ${#x}'", "step05", &["--memory", "16m", "sh", "-c", "x=$(head -c 64m /dev/zero | tr \"\\0\" a); echo ${#x}"]).with_status(),
    rec("step05-pids.txt", "cargo run -q -p step05 -- --pids 8 sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 2 & done; wait'", "step05", &["--pids", "8", "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 2 & done; wait"]).with_status(),
    rec("step05-experiment.txt", "cargo run -q -p step05 -- --memory 64m --cpus 0.5 --pids 32 sleep 5", "step05", &["--memory", "64m", "--cpus", "0.5", "--pids", "32", "sleep", "5"]).probing(&[
        "cat /proc/$PID/cgroup",
        "find /sys/fs/cgroup -path \"*/contain-rs-workshop/ws-$RUNTIME/*\" \\( -name memory.max -o -name memory.limit_in_bytes -o -name cpu.max -o -name cpu.cfs_quota_us -o -name 'pids.*' \\) -exec grep -H . {} +",
    ]),
    // chapter 6
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
    let mut failed = Vec::new();
    for rec in chosen {
        let text = match record_one(rec, &bins.join(rec.bin), &rootfs) {
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

fn record_one(rec: &Recording, bin: &Path, rootfs: &Path) -> Result<String> {
    if let How::Pull = rec.how {
        return record_pull(rec, bin);
    }
    let mut text = format!("$ {}\n", rec.shown);
    let code = match rec.how {
        How::Pull => unreachable!("recorded above"),
        How::Root | How::Nobody | How::After(_) => {
            let mut _guard = None;
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
                _ => Command::new(bin),
            };
            cmd.args(rec.args);
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
                    let mut sh = Command::new("sh");
                    sh.args(["-c", probe]).env("WORKSHOP_ROOTFS", rootfs);
                    let (out, probe_code) = run_merged(sh, Some(rootfs))?;
                    text.push_str(&format!("$ {probe}\n{out}"));
                    if probe_code != 0 {
                        bail!("the probe `{probe}` exited {probe_code}: {out}");
                    }
                }
            }
            code
        }
        How::Experiment(probes) => {
            let (output, code) = experiment(rec, bin, rootfs, probes)?;
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
fn experiment(
    rec: &Recording,
    bin: &Path,
    rootfs: &Path,
    probes: &[&str],
) -> Result<(String, i32)> {
    let log = tempfile::tempfile()?;
    let mut cmd = Command::new(bin);
    cmd.args(rec.args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .env("WORKSHOP_ROOTFS", rootfs);
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
        let mut out = format!(
            "\n# in a second shell on the host:\n$ PID=$(pgrep -n {})       # the container's {}; here {pid}\n",
            rec.bin,
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
            let mut sh = Command::new("sh");
            sh.args(["-c", probe])
                .env("PID", pid.to_string())
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
}
