//! Chapter 10: an OCI runtime, driven as runc is, through its lifecycle
//! commands on a bundle, and looked at from the host: the state it
//! reports, the container's cgroup (`/proc/<init>/cgroup` and the cgroup
//! mount), and what the container's processes can do.
//!
//! From chapter 10 on the runtime takes a bundle, not docker-like flags,
//! so these are the only checks asked of it ([`super::for_step`]). Each
//! check makes its own bundle (`step10 spec --bundle DIR`, the config
//! edited, a private copy of the busybox rootfs as `rootfs/`), keeps its
//! containers' state under a `--root` of its own, and removes what it made
//! through a [`Container`] guard: `delete --force` on every way out, also
//! when it fails. The container IDs carry the checking process's PID, so
//! runs in parallel do not collide.
//!
//! The cgroup files are the host's interface: cgroup v2's (`memory.max`,
//! `pids.max`, `cpu.max`, devices by an eBPF program) where
//! `/sys/fs/cgroup` is cgroup2, which is what `cargo xtask vm-test`
//! boots; v1's (`memory.limit_in_bytes`, `cpu.cfs_quota_us`, ...) on a v1
//! or hybrid host.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Check, expect_code};
use crate::host;
use crate::run::{Output, RUN_LIMIT, Target, code, wait_limited};

/// The checks of chapter 10.
pub const CHECKS: &[Check] = &[
    Check {
        name: "oci::create_start_kill_delete",
        since: 10,
        run: create_start_kill_delete,
    },
    Check {
        name: "oci::resources_reach_the_cgroup",
        since: 10,
        run: resources_reach_the_cgroup,
    },
    Check {
        name: "oci::absolute_cgroups_path",
        since: 10,
        run: absolute_cgroups_path,
    },
    Check {
        name: "oci::deny_all_devices_keeps_the_defaults",
        since: 10,
        run: deny_all_devices_keeps_the_defaults,
    },
    Check {
        name: "oci::exec_joins_the_cgroup",
        since: 10,
        run: exec_joins_the_cgroup,
    },
];

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Polls `ready` every 20 ms until it holds or `limit` is over.
fn wait_for(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// --- A container of a check's own --------------------------------------------

/// One container: its bundle (config.json and a private rootfs copy), its
/// runtime `--root`, its ID. Dropping it deletes the container (`delete
/// --force`) and removes the cgroup directories the check saw it in, if the
/// runtime left them; the temp directories go after.
struct Container {
    bin: PathBuf,
    id: String,
    bundle: tempfile::TempDir,
    root: tempfile::TempDir,
    /// The container's cgroup directories, once a check has seen them.
    cgroups: Vec<PathBuf>,
}

impl Container {
    /// A bundle from `step10 spec`, `edit`ed, over a copy of the test
    /// rootfs; nothing created yet.
    fn new(t: &Target, tag: &str, edit: impl FnOnce(&mut Value)) -> Result<Container, String> {
        let bundle = tempfile::Builder::new()
            .prefix("testkit-oci-bundle-")
            .tempdir()
            .map_err(err)?;
        let root = tempfile::Builder::new()
            .prefix("testkit-oci-root-")
            .tempdir()
            .map_err(err)?;
        let c = Container {
            bin: t.bin.clone(),
            id: format!("{tag}-{}", std::process::id()),
            bundle,
            root,
            cgroups: Vec::new(),
        };
        let spec = c.runtime(&["spec", "--bundle", &c.bundle_path()])?;
        expect_code(&spec, 0, "step10 spec --bundle DIR")?;
        let file = c.bundle.path().join("config.json");
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("`spec` exited 0 but {} cannot be read: {e}", file.display()))?;
        let mut config: Value = serde_json::from_str(&text)
            .map_err(|e| format!("`spec` wrote a config.json that is not JSON: {e}"))?;
        if config["root"]["path"] != "rootfs" {
            return Err(format!(
                "`spec` wrote root.path {}, expected \"rootfs\"",
                config["root"]["path"]
            ));
        }
        copy_rootfs(t, &c.rootfs())?;
        edit(&mut config);
        std::fs::write(&file, config.to_string()).map_err(err)?;
        Ok(c)
    }

    fn bundle_path(&self) -> String {
        self.bundle.path().display().to_string()
    }

    /// The container's root filesystem, as the host sees it.
    fn rootfs(&self) -> PathBuf {
        self.bundle.path().join("rootfs")
    }

    /// Where the runtime keeps this container's state.
    fn state_dir(&self) -> PathBuf {
        self.root.path().join(&self.id)
    }

    /// `step10 --root ROOT ARGS...`, to its end (or [`RUN_LIMIT`]). Its
    /// output goes to files, not pipes: the container's process inherits
    /// `create`'s, and a pipe would stay open as long as it runs.
    fn runtime(&self, args: &[&str]) -> Result<Output, String> {
        let what = format!("`step10 {}`", args.join(" "));
        let out = tempfile::tempfile().map_err(err)?;
        let errf = tempfile::tempfile().map_err(err)?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root").arg(self.root.path()).args(args);
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone().map_err(err)?)
            .stderr(errf.try_clone().map_err(err)?);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{what}: cannot start: {e}"))?;
        let status = wait_limited(&mut child, RUN_LIMIT).map_err(|e| format!("{what}: {e}"))?;
        Ok(Output {
            code: code(status),
            stdout: read_all(out)?,
            stderr: read_all(errf)?,
        })
    }

    /// `runtime`, which must exit 0.
    fn ok(&self, args: &[&str]) -> Result<Output, String> {
        let out = self.runtime(args)?;
        expect_code(&out, 0, &format!("step10 {}", args.join(" ")))?;
        Ok(out)
    }

    /// `create --bundle DIR ID`; the container's process writes to `create`'s stdout.
    fn create(&self) -> Result<Output, String> {
        self.ok(&["create", "--bundle", &self.bundle_path(), &self.id])
    }

    /// `state ID`: (status, pid).
    fn state(&self) -> Result<(String, i64), String> {
        let out = self.ok(&["state", &self.id])?;
        let state: Value = serde_json::from_str(&out.stdout)
            .map_err(|e| format!("`state` printed no JSON ({e}): {:?}", out.stdout))?;
        let status = state["status"].as_str().unwrap_or_default().to_owned();
        let pid = state["pid"].as_i64().unwrap_or(0);
        if state["id"] != self.id.as_str() {
            return Err(format!(
                "`state {}` names another id: {}",
                self.id,
                out.stdout.trim()
            ));
        }
        Ok((status, pid))
    }

    /// The init's PID from `state`, which must say `want`.
    fn pid_when(&self, want: &str) -> Result<u32, String> {
        let (status, pid) = self.state()?;
        if status != want {
            return Err(format!(
                "`state {}` said status {status:?}, expected {want:?}",
                self.id
            ));
        }
        u32::try_from(pid)
            .ok()
            .filter(|p| *p > 0 && host::alive(*p))
            .ok_or_else(|| {
                format!("`state` says {want} with pid {pid}, which is no live process on the host")
            })
    }

    /// The cgroup of the container's init, found through /proc and
    /// remembered for the cleanup.
    /// Its directories are named after the ID (`/contain-rs-workshop/<id>`
    /// by default, a `cgroupsPath` of these checks' ends in it too); on v1
    /// the hierarchies the runtime does not use, where the init stays in
    /// the host's cgroup, are left out.
    fn cgroup_of(&mut self, pid: u32) -> Result<Cgroup, String> {
        let mut cg = Cgroup::of(pid)?;
        let own = |d: &Path| d.file_name().is_some_and(|n| n == self.id.as_str());
        match &mut cg {
            Cgroup::V2(dir) if !own(dir) => {
                return Err(format!(
                    "the container's init (pid {pid}) is in the cgroup {}, not in one of its own \
                     (named {:?})",
                    dir.display(),
                    self.id
                ));
            }
            Cgroup::V2(_) => {}
            Cgroup::V1(dirs) => {
                dirs.retain(|(_, d)| own(d));
                if dirs.is_empty() {
                    return Err(format!(
                        "the container's init (pid {pid}) is in no cgroup named {:?} in any v1 \
                         hierarchy",
                        self.id
                    ));
                }
            }
        }
        for dir in cg.dirs() {
            if !self.cgroups.contains(&dir) {
                self.cgroups.push(dir);
            }
        }
        Ok(cg)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.state_dir().exists() {
            let _ = self.runtime(&["delete", "--force", &self.id]);
        }
        // Only what a runtime that failed to clean up left: the leaves
        // first, each a cgroup of this container's.
        for dir in self.cgroups.iter().rev() {
            if dir.exists() {
                let _ = std::fs::remove_dir(dir);
            }
        }
        // And any other directory named after this check's own ID: a
        // runtime that failed before a check saw its cgroup.
        host::remove_cgroups_named(&self.id);
    }
}

fn read_all(mut file: File) -> Result<String, String> {
    let mut bytes = Vec::new();
    file.rewind().map_err(err)?;
    file.read_to_end(&mut bytes).map_err(err)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `cp -a` of the test rootfs to `dest` (owned by root, modes kept).
fn copy_rootfs(t: &Target, dest: &Path) -> Result<(), String> {
    let base = match &t.rootfs {
        Some(r) => r.clone(),
        None => crate::rootfs::busybox_rootfs().map_err(|e| format!("{e:#}"))?,
    };
    let out = Command::new("cp")
        .arg("-a")
        .arg(&base)
        .arg(dest)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cp -a: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cp -a {} {}: {}",
            base.display(),
            dest.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

// --- A process's cgroup, from the host ----------------------------------------

/// Where a process's cgroup is, read from `/proc/PID/cgroup` and mapped
/// onto the host's cgroup mounts: on cgroup v2 one directory; on v1 one
/// per hierarchy, with the controllers it carries.
#[derive(Debug)]
enum Cgroup {
    V2(PathBuf),
    V1(Vec<(Vec<String>, PathBuf)>),
}

impl Cgroup {
    fn of(pid: u32) -> Result<Cgroup, String> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .map_err(|e| format!("read /proc/{pid}/cgroup: {e}"))?;
        if host::cgroup_v2() {
            let path = text
                .lines()
                .find_map(|l| l.strip_prefix("0::"))
                .ok_or_else(|| format!("/proc/{pid}/cgroup has no v2 line `0::/...`: {text:?}"))?;
            return Ok(Cgroup::V2(
                Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/')),
            ));
        }
        let mounts = v1_mounts();
        let mut dirs = Vec::new();
        for line in text.lines() {
            let mut fields = line.splitn(3, ':');
            let (Some(_), Some(names), Some(path)) = (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let names: Vec<String> = names
                .split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            if names.is_empty() {
                continue; // a hybrid host's controller-less cgroup2
            }
            if let Some((_, mount)) = mounts
                .iter()
                .find(|(opts, _)| names.iter().all(|n| opts.contains(n)))
            {
                dirs.push((names, mount.join(path.trim_start_matches('/'))));
            }
        }
        Ok(Cgroup::V1(dirs))
    }

    fn dirs(&self) -> Vec<PathBuf> {
        match self {
            Cgroup::V2(dir) => vec![dir.clone()],
            Cgroup::V1(dirs) => dirs.iter().map(|(_, d)| d.clone()).collect(),
        }
    }

    /// A cgroup file: `v2` on cgroup v2, else `v1.1` in the hierarchy of
    /// controller `v1.0`.
    fn file(&self, v2: &str, v1: (&str, &str)) -> Result<PathBuf, String> {
        match self {
            Cgroup::V2(dir) => Ok(dir.join(v2)),
            Cgroup::V1(dirs) => dirs
                .iter()
                .find(|(names, _)| names.iter().any(|n| n == v1.0))
                .map(|(_, dir)| dir.join(v1.1))
                .ok_or_else(|| format!("the container is in no {} cgroup: {dirs:?}", v1.0)),
        }
    }

    /// The PIDs in the cgroup (v1: in every hierarchy's).
    fn procs(&self) -> Vec<Vec<u32>> {
        self.dirs()
            .iter()
            .map(|d| {
                std::fs::read_to_string(d.join("cgroup.procs"))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect()
            })
            .collect()
    }

    /// Which of its directories do not list `pid` in `cgroup.procs`.
    fn missing(&self, pid: u32) -> Vec<PathBuf> {
        self.dirs()
            .into_iter()
            .zip(self.procs())
            .filter(|(_, procs)| !procs.contains(&pid))
            .map(|(d, _)| d)
            .collect()
    }
}

/// Every cgroup v1 hierarchy: its super options (controllers, `name=`) and mount point.
fn v1_mounts() -> Vec<(Vec<String>, PathBuf)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut right = right.split(' ');
            if right.next()? != "cgroup" {
                return None;
            }
            let opts = right.nth(1)?.split(',').map(str::to_owned).collect();
            Some((opts, PathBuf::from(left.split(' ').nth(4)?)))
        })
        .collect()
}

fn read_trimmed(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("read {}: {e}", path.display()))
}

/// `sh -c SCRIPT` as the container's process.
fn args(script: &str) -> impl FnOnce(&mut Value) + '_ {
    move |config| config["process"]["args"] = json!(["sh", "-c", script])
}

// --- The checks ------------------------------------------------------------------

/// `create` makes a container whose process has not run (`state` says
/// created, the process's first command has left no mark); `start` runs
/// it; after `kill` and `delete` its state directory and its cgroup are
/// gone and `state` knows it no more.
pub fn create_start_kill_delete(t: &Target) -> Result<(), String> {
    let mut c = Container::new(t, "oci-life", args("echo ran >/ran; exec sleep 1000"))?;
    let marker = c.rootfs().join("ran");
    c.create()?;
    let pid = c.pid_when("created")?;
    let cg = c.cgroup_of(pid)?;
    let missing = cg.missing(pid);
    if !missing.is_empty() {
        return Err(format!(
            "the created container's init (pid {pid}) is not in its cgroup: \
             {missing:?} do not list it"
        ));
    }
    // The positive control of "has not run" is `start`'s mark, below.
    std::thread::sleep(Duration::from_millis(300));
    if marker.exists() {
        return Err(
            "after `create` alone the container's process already ran (it wrote /ran): \
             it must wait for `start`"
                .into(),
        );
    }
    c.ok(&["start", &c.id])?;
    if !wait_for(Duration::from_secs(5), || marker.exists()) {
        return Err(
            "after `start` the container's process did not run (no /ran within 5 s)".into(),
        );
    }
    let running = c.pid_when("running")?;
    if running != pid {
        return Err(format!(
            "`state` said pid {pid} when created and {running} when running"
        ));
    }
    if !c.state_dir().is_dir() {
        return Err(format!(
            "the running container has no state directory {} under --root",
            c.state_dir().display()
        ));
    }
    c.ok(&["kill", &c.id, "KILL"])?;
    let mut last = String::new();
    let stopped = wait_for(Duration::from_secs(5), || {
        last = c.state().map(|(s, _)| s).unwrap_or_else(|e| e);
        last == "stopped"
    });
    if !stopped {
        return Err(format!(
            "5 s after `kill {} KILL`, `state` said {last:?}, expected \"stopped\"",
            c.id
        ));
    }
    c.ok(&["delete", &c.id])?;
    if c.state_dir().exists() {
        return Err(format!(
            "after `delete` the state directory {} is still there",
            c.state_dir().display()
        ));
    }
    let left: Vec<PathBuf> = cg.dirs().into_iter().filter(|d| d.exists()).collect();
    if !left.is_empty() {
        return Err(format!(
            "after `delete` the container's cgroup is still there: {left:?}"
        ));
    }
    let after = c.runtime(&["state", &c.id])?;
    if after.code == 0 {
        return Err(format!(
            "`state` of a deleted container exited 0: {:?}",
            after.stdout.trim()
        ));
    }
    Ok(())
}

/// `linux.resources` land in the container's cgroup, read from the host
/// through `/proc/<init>/cgroup`: memory.limit 64 MiB, pids.limit 32, cpu
/// quota 50000 per 100000 µs.
pub fn resources_reach_the_cgroup(t: &Target) -> Result<(), String> {
    let mut c = Container::new(t, "oci-res", |config| {
        let r = &mut config["linux"]["resources"];
        r["memory"] = json!({"limit": 67108864});
        r["pids"] = json!({"limit": 32});
        r["cpu"] = json!({"quota": 50000, "period": 100000});
    })?;
    c.create()?;
    let pid = c.pid_when("created")?;
    let cg = c.cgroup_of(pid)?;
    let missing = cg.missing(pid);
    if !missing.is_empty() {
        return Err(format!(
            "the container's init (pid {pid}) is not in {missing:?}, the cgroup /proc/{pid}/cgroup names"
        ));
    }
    let mut wrong = Vec::new();
    let mut check = |path: PathBuf, want: &str| match read_trimmed(&path) {
        Ok(got) if got == want => {}
        Ok(got) => wrong.push(format!("{} is {got:?}, expected {want:?}", path.display())),
        Err(e) => wrong.push(e),
    };
    match &cg {
        Cgroup::V2(_) => {
            check(cg.file("memory.max", ("", ""))?, "67108864");
            check(cg.file("pids.max", ("", ""))?, "32");
            check(cg.file("cpu.max", ("", ""))?, "50000 100000");
        }
        Cgroup::V1(_) => {
            check(
                cg.file("", ("memory", "memory.limit_in_bytes"))?,
                "67108864",
            );
            check(cg.file("", ("pids", "pids.max"))?, "32");
            check(cg.file("", ("cpu", "cpu.cfs_quota_us"))?, "50000");
            check(cg.file("", ("cpu", "cpu.cfs_period_us"))?, "100000");
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "linux.resources memory.limit 67108864, pids.limit 32, cpu quota 50000 period \
             100000: {}",
            wrong.join("; ")
        ))
    }
}

/// An absolute `linux.cgroupsPath` is below the cgroup mount
/// (`/sys/fs/cgroup/contain-rs-vm/<id>` on v2), holds the init, and
/// `delete` removes it, and its parent when `create` made that.
pub fn absolute_cgroups_path(t: &Target) -> Result<(), String> {
    let id = format!("oci-cgpath-{}", std::process::id());
    let rel = format!("contain-rs-vm/{id}");
    let mut c = Container::new(t, "oci-cgpath", |config| {
        config["linux"]["cgroupsPath"] = json!(format!("/{rel}"));
    })?;
    // v2: one tree; v1: every hierarchy the runtime uses, memory among them.
    let (expected, parent) = if host::cgroup_v2() {
        let base = Path::new("/sys/fs/cgroup");
        (base.join(&rel), base.join("contain-rs-vm"))
    } else {
        let mount = v1_mounts()
            .into_iter()
            .find(|(opts, _)| opts.iter().any(|o| o == "memory"))
            .map(|(_, m)| m)
            .ok_or("no cgroup v1 memory hierarchy on this host")?;
        (mount.join(&rel), mount.join("contain-rs-vm"))
    };
    let parent_was_there = parent.exists();
    c.cgroups.push(expected.clone());
    c.create()?;
    let pid = c.pid_when("created")?;
    let cg = c.cgroup_of(pid)?;
    if !cg.dirs().contains(&expected) {
        return Err(format!(
            "with cgroupsPath /{rel} the init's cgroup is {:?}, expected {}",
            cg.dirs(),
            expected.display()
        ));
    }
    let missing = cg.missing(pid);
    if !missing.is_empty() {
        return Err(format!("the init (pid {pid}) is not listed in {missing:?}"));
    }
    c.ok(&["delete", "--force", &c.id])?;
    if expected.exists() {
        return Err(format!(
            "after `delete --force` the cgroup {} is still there",
            expected.display()
        ));
    }
    if !parent_was_there && parent.exists() {
        return Err(format!(
            "`create` made {} for cgroupsPath /{rel}, and `delete` left it behind",
            parent.display()
        ));
    }
    Ok(())
}

/// The default config's `{"allow": false, "access": "rwm"}` plus the
/// default devices (on v2 an eBPF program on the container's cgroup):
/// /dev/null opens inside (the positive control), while a block device
/// node of the first disk (`b 8 0`), made inside with CAP_MKNOD (in the
/// default set; runc allows `m` of every device), cannot be opened for
/// reading: EPERM, the device cgroup's answer (a node with no disk behind
/// it would be ENXIO, a nodev mount EACCES). A node of the same device
/// the host made in the rootfs is refused the same way.
pub fn deny_all_devices_keeps_the_defaults(t: &Target) -> Result<(), String> {
    let script = "exec >/out 2>&1; \
         if echo x >/dev/null && cat /dev/null; then echo null-ok; fi; \
         if head -c 1 /hostdisk >/dev/null; then echo hostdisk-opened; fi; \
         if mknod /dev/sda b 8 0; then echo mknod-ok; \
            if head -c 1 /dev/sda >/dev/null; then echo sda-opened; fi; fi; \
         echo done";
    let mut c = Container::new(t, "oci-dev", args(script))?;
    let config = std::fs::read_to_string(c.bundle.path().join("config.json")).map_err(err)?;
    let config: Value = serde_json::from_str(&config).map_err(err)?;
    if config["linux"]["resources"]["devices"] != json!([{"allow": false, "access": "rwm"}]) {
        return Err(format!(
            "`step10 spec` no longer writes the deny-all device rule this check is about: {}",
            config["linux"]["resources"]["devices"]
        ));
    }
    let node = c.rootfs().join("hostdisk");
    nix::sys::stat::mknod(
        &node,
        nix::sys::stat::SFlag::S_IFBLK,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        nix::sys::stat::makedev(8, 0),
    )
    .map_err(|e| format!("mknod {} b 8 0 on the host: {e}", node.display()))?;
    c.create()?;
    let pid = c.pid_when("created")?;
    c.cgroup_of(pid)?;
    c.ok(&["start", &c.id])?;
    let out_file = c.rootfs().join("out");
    let mut out = String::new();
    let done = wait_for(Duration::from_secs(10), || {
        out = std::fs::read_to_string(&out_file).unwrap_or_default();
        out.lines().any(|l| l == "done")
    });
    if !done {
        return Err(format!(
            "the container's script did not finish within 10 s; it printed {out:?}"
        ));
    }
    let mut wrong = Vec::new();
    if !out.lines().any(|l| l == "null-ok") {
        wrong.push("/dev/null (a default device) could not be written and read".to_owned());
    }
    if out.lines().any(|l| l == "hostdisk-opened") {
        wrong.push("a b 8:0 node the host made in the rootfs could be opened".to_owned());
    } else if !out.contains("/hostdisk: Operation not permitted") {
        wrong.push("the host-made b 8:0 node failed to open, but not with EPERM".to_owned());
    }
    if !out.lines().any(|l| l == "mknod-ok") {
        wrong.push(
            "`mknod /dev/sda b 8 0` failed inside, though CAP_MKNOD is in the default set \
             (runc allows mknod of any device and denies the open)"
                .to_owned(),
        );
    } else if out.lines().any(|l| l == "sda-opened") {
        wrong.push("/dev/sda (b 8:0), made inside, could be opened for reading".to_owned());
    } else if !out.contains("/dev/sda: Operation not permitted") {
        wrong.push("/dev/sda made inside failed to open, but not with EPERM".to_owned());
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "with the default config's deny-all device rule: {}; the container printed {:?}",
            wrong.join("; "),
            out.trim_end()
        ))
    }
}

/// `exec ID cat /proc/self/cgroup` prints what the container's init sees
/// in its own /proc/self/cgroup, and, seen from the host, an exec'd
/// process is listed in the container's cgroup beside the init.
pub fn exec_joins_the_cgroup(t: &Target) -> Result<(), String> {
    let mut c = Container::new(
        t,
        "oci-exec",
        args("cat /proc/self/cgroup >/init-cgroup; exec sleep 1000"),
    )?;
    let file = c.rootfs().join("init-cgroup");
    c.create()?;
    c.ok(&["start", &c.id])?;
    let pid = c.pid_when("running")?;
    let cg = c.cgroup_of(pid)?;
    if !wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(&file).is_ok_and(|s| s.ends_with('\n'))
    }) {
        return Err("the container's process did not write /init-cgroup within 5 s".into());
    }
    let init_sees = read_trimmed(&file)?;
    let out = c.ok(&["exec", &c.id, "cat", "/proc/self/cgroup"])?;
    if out.out() != init_sees {
        return Err(format!(
            "`exec {} cat /proc/self/cgroup` printed {:?}; the container's init sees {init_sees:?}",
            c.id,
            out.out()
        ));
    }
    // From the host: before, the init alone; during an exec of sleep, the
    // sleep too.
    let before = cg.procs();
    if before.iter().any(|p| p != &[pid]) {
        return Err(format!(
            "before the exec the container's cgroup should hold its init ({pid}) alone: {before:?}"
        ));
    }
    let mut cmd = Command::new(&c.bin);
    cmd.arg("--root")
        .arg(c.root.path())
        .args(["exec", &c.id, "sleep", "7"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start exec: {e}"))?;
    let mut seen = Vec::new();
    let found = wait_for(Duration::from_secs(5), || {
        seen = cg.procs();
        seen.iter().all(|procs| {
            procs.iter().any(|p| {
                std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c == b"sleep\x007\x00")
            })
        })
    });
    crate::run::stop(&mut child);
    if !found {
        return Err(format!(
            "during `exec {} sleep 7` no `sleep 7` was in the container's cgroup {:?}: {seen:?}",
            c.id,
            cg.dirs()
        ));
    }
    Ok(())
}
