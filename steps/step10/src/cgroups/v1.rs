//! cgroup v1: one mounted tree ("hierarchy") per controller or group of
//! controllers, and one file per OCI field.
//!
//! `/proc/self/mountinfo` lists the hierarchies. Of a line such as
//!
//! ```text
//! 35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
//! ```
//!
//! the 4th field is the cgroup the mount shows (`/`), the 5th where it is
//! mounted, and after ` - ` come the type (`cgroup`), the source and the
//! super options, which name the controllers (`rw,cpu,cpuacct`: one
//! hierarchy for both) or, for a hierarchy without controllers, its name
//! (`name=systemd`). A container gets a directory in every hierarchy, as
//! with runc, so that it sees a cgroup of its own in each.
//!
//! | OCI field | v1 file (in that controller's hierarchy) |
//! |---|---|
//! | memory.limit | `memory.limit_in_bytes` |
//! | memory.reservation | `memory.soft_limit_in_bytes` |
//! | memory.swap | `memory.memsw.limit_in_bytes` (memory + swap) |
//! | memory.kernel, kernelTCP | `memory.kmem.limit_in_bytes`, `memory.kmem.tcp.limit_in_bytes` |
//! | memory.swappiness | `memory.swappiness` |
//! | memory.disableOOMKiller | `memory.oom_control` = 1 |
//! | cpu.shares, quota, period | `cpu.shares`, `cpu.cfs_quota_us`, `cpu.cfs_period_us` |
//! | cpu.realtimeRuntime, realtimePeriod | `cpu.rt_runtime_us`, `cpu.rt_period_us` |
//! | cpu.cpus, mems | `cpuset.cpus`, `cpuset.mems` |
//! | pids.limit | `pids.max` |
//! | devices | `devices.allow` / `devices.deny`, one line each, in order |
//! | blockIO | `blkio.weight`, `blkio.weight_device`, `blkio.throttle.*` |
//! | hugepageLimits | `hugetlb.<size>.limit_in_bytes` |
//! | network | `net_cls.classid`, `net_prio.ifpriomap` |
//!
//! See the kernel's [cgroup v1 docs](https://docs.kernel.org/admin-guide/cgroup-v1/index.html).

use std::path::{Path, PathBuf};

use anyhow::bail;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};

use super::{Host, fs};

/// One mounted v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted (`/sys/fs/cgroup/memory`).
    pub mount: PathBuf,
    /// Which of its cgroups the mount shows (`/`; deeper inside a container).
    pub root: PathBuf,
    /// Its controllers (`["cpu", "cpuacct"]`) or name (`["name=systemd"]`).
    pub controllers: Vec<String>,
}

impl Hierarchy {
    /// Does it carry `controller`?
    pub fn holds(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// Undoes mountinfo's octal escapes (`\040` is a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = std::str::from_utf8(&bytes[i + 1..i + 4]).ok();
            if let Some(b) = digits.and_then(|d| u8::from_str_radix(d, 8).ok()) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The super options that are not controllers.
const NOT_CONTROLLERS: [&str; 6] = [
    "rw",
    "ro",
    "clone_children",
    "noprefix",
    "xattr",
    "cpuset_v2_mode",
];

// ANCHOR: hierarchies
/// The v1 hierarchies in a `/proc/self/mountinfo` text: the lines of type
/// `cgroup` (not `cgroup2`), each hierarchy once even if mounted twice.
pub fn hierarchies(mountinfo: &str) -> Vec<Hierarchy> {
    let mut found: Vec<(String, Hierarchy)> = Vec::new();
    for line in mountinfo.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = before.split(' ').collect();
        let post: Vec<&str> = after.split(' ').collect();
        if fields.len() < 5 || post.len() < 3 || post[0] != "cgroup" {
            continue;
        }
        let controllers: Vec<String> = post[2]
            .split(',')
            .filter(|o| !NOT_CONTROLLERS.contains(o) && !o.starts_with("release_agent="))
            .map(str::to_owned)
            .collect();
        // The same hierarchy (device number, 3rd field) mounted twice counts once.
        let device = fields[2].to_owned();
        if controllers.is_empty() || found.iter().any(|(d, _)| *d == device) {
            continue;
        }
        found.push((
            device,
            Hierarchy {
                mount: PathBuf::from(unescape(fields[4])),
                root: PathBuf::from(unescape(fields[3])),
                controllers,
            },
        ));
    }
    found.into_iter().map(|(_, h)| h).collect()
}
// ANCHOR_END: hierarchies

/// One write into the container's directory of `controller`'s hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The controller whose hierarchy has the file.
    pub controller: &'static str,
    /// The file's name.
    pub file: String,
    /// What to write.
    pub value: String,
    /// Skipped without error when the kernel has no such file (the kmem
    /// files, gone from new kernels: runc skips them too).
    pub optional: bool,
}

fn w(controller: &'static str, file: impl Into<String>, value: impl ToString) -> Write {
    Write {
        controller,
        file: file.into(),
        value: value.to_string(),
        optional: false,
    }
}

/// The line `devices.allow` and `devices.deny` take: `c 1:3 rwm`; `a` is
/// every device, `*` any number.
pub fn device_line(rule: &LinuxDeviceCgroup) -> String {
    let typ = rule
        .typ()
        .map_or_else(|| "a".to_owned(), |t| t.as_str().to_owned());
    let num = |n: Option<i64>| n.map_or("*".to_owned(), |n| n.to_string());
    let access = rule.access().as_deref().unwrap_or("rwm");
    format!("{typ} {}:{} {access}", num(rule.major()), num(rule.minor()))
}

// ANCHOR: v1_memory
/// The memory fields, in runc's order: the limit before the swap limit
/// (`memory.memsw.limit_in_bytes` is memory *plus* swap, and the kernel
/// refuses one below `memory.limit_in_bytes`).
fn memory(resources: &LinuxResources, out: &mut Vec<Write>) -> anyhow::Result<()> {
    let Some(mem) = resources.memory().as_ref() else {
        return Ok(());
    };
    if let Some(limit) = mem.limit() {
        out.push(w("memory", "memory.limit_in_bytes", limit));
    }
    if let Some(swap) = mem.swap() {
        out.push(w("memory", "memory.memsw.limit_in_bytes", swap));
    }
    if let Some(reservation) = mem.reservation() {
        out.push(w("memory", "memory.soft_limit_in_bytes", reservation));
    }
    // Kernel memory limits: deprecated, gone in Linux 6.1+ (kmem) or
    // ignored; where the file is missing, runc skips them, and so do we.
    for (value, file) in [
        (mem.kernel(), "memory.kmem.limit_in_bytes"),
        (mem.kernel_tcp(), "memory.kmem.tcp.limit_in_bytes"),
    ] {
        if let Some(value) = value {
            out.push(Write {
                optional: true,
                ..w("memory", file, value)
            });
        }
    }
    if let Some(swappiness) = mem.swappiness() {
        if swappiness > 100 {
            bail!(
                "linux.resources.memory.swappiness is {swappiness}; memory.swappiness takes 0 to 100"
            );
        }
        out.push(w("memory", "memory.swappiness", swappiness));
    }
    // 1 stops the OOM killer: a cgroup over its limit waits instead.
    if mem.disable_oom_killer() == Some(true) {
        out.push(w("memory", "memory.oom_control", 1));
    }
    Ok(())
}
// ANCHOR_END: v1_memory

/// Everything `resources` asks, as v1 writes in the order to make them.
pub fn translate(resources: &LinuxResources) -> anyhow::Result<Vec<Write>> {
    let mut out = Vec::new();
    if resources.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        bail!(
            "linux.resources.unified holds cgroup v2 files, and this host uses cgroup v1; \
             remove it from config.json or run on a cgroup v2 host"
        );
    }
    memory(resources, &mut out)?;
    if let Some(cpu) = resources.cpu().as_ref() {
        // The realtime budget first: runc's order.
        if let Some(period) = cpu.realtime_period() {
            out.push(w("cpu", "cpu.rt_period_us", period));
        }
        if let Some(runtime) = cpu.realtime_runtime() {
            out.push(w("cpu", "cpu.rt_runtime_us", runtime));
        }
        if let Some(shares) = cpu.shares() {
            out.push(w("cpu", "cpu.shares", shares));
        }
        // The period before the quota: the kernel checks quota against it.
        if let Some(period) = cpu.period() {
            out.push(w("cpu", "cpu.cfs_period_us", period));
        }
        if let Some(quota) = cpu.quota() {
            out.push(w("cpu", "cpu.cfs_quota_us", quota));
        }
        if let Some(burst) = cpu.burst() {
            out.push(w("cpu", "cpu.cfs_burst_us", burst));
        }
        if let Some(idle) = cpu.idle() {
            out.push(w("cpu", "cpu.idle", idle));
        }
        if let Some(cpus) = cpu.cpus().as_deref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.cpus", cpus));
        }
        if let Some(mems) = cpu.mems().as_deref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.mems", mems));
        }
    }
    if let Some(pids) = resources.pids().as_ref() {
        let limit = pids.limit();
        let value = if limit > 0 {
            limit.to_string()
        } else {
            "max".to_owned()
        };
        out.push(w("pids", "pids.max", value));
    }
    for rule in resources.devices().iter().flatten() {
        let file = if rule.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        out.push(w("devices", file, device_line(rule)));
    }
    if let Some(blkio) = resources.block_io().as_ref() {
        if let Some(weight) = blkio.weight() {
            out.push(w("blkio", "blkio.weight", weight));
        }
        if let Some(weight) = blkio.leaf_weight() {
            out.push(w("blkio", "blkio.leaf_weight", weight));
        }
        for dev in blkio.weight_device().iter().flatten() {
            if let Some(weight) = dev.weight() {
                let line = format!("{}:{} {weight}", dev.major(), dev.minor());
                out.push(w("blkio", "blkio.weight_device", line));
            }
            if let Some(weight) = dev.leaf_weight() {
                let line = format!("{}:{} {weight}", dev.major(), dev.minor());
                out.push(w("blkio", "blkio.leaf_weight_device", line));
            }
        }
        for (list, file) in [
            (
                blkio.throttle_read_bps_device(),
                "blkio.throttle.read_bps_device",
            ),
            (
                blkio.throttle_write_bps_device(),
                "blkio.throttle.write_bps_device",
            ),
            (
                blkio.throttle_read_iops_device(),
                "blkio.throttle.read_iops_device",
            ),
            (
                blkio.throttle_write_iops_device(),
                "blkio.throttle.write_iops_device",
            ),
        ] {
            for dev in list.iter().flatten() {
                let line = format!("{}:{} {}", dev.major(), dev.minor(), dev.rate());
                out.push(w("blkio", file, line));
            }
        }
    }
    for limit in resources.hugepage_limits().iter().flatten() {
        let file = format!("hugetlb.{}.limit_in_bytes", limit.page_size());
        out.push(w("hugetlb", file, limit.limit()));
    }
    if let Some(net) = resources.network().as_ref() {
        if let Some(class_id) = net.class_id() {
            out.push(w("net_cls", "net_cls.classid", class_id));
        }
        for prio in net.priorities().iter().flatten() {
            let line = format!("{} {}", prio.name(), prio.priority());
            out.push(w("net_prio", "net_prio.ifpriomap", line));
        }
    }
    Ok(out)
}

/// The container's directory in the hierarchy carrying `controller`.
fn leaf_of<'a>(host: &Host, leaves: &'a [PathBuf], controller: &str) -> Option<&'a Path> {
    let index = host.hierarchies.iter().position(|h| h.holds(controller))?;
    leaves.get(index).map(PathBuf::as_path)
}

/// Prepares the new cpuset directories, then makes the writes. A new
/// cpuset cgroup starts with empty `cpuset.cpus` and `cpuset.mems`, and no
/// process may join it until both are set: each directory we made gets
/// its parent's, top-down (what `cgroup.clone_children` would do, without
/// changing a parent we did not make).
pub fn apply(
    host: &Host,
    leaves: &[PathBuf],
    created: &[PathBuf],
    writes: &[Write],
) -> anyhow::Result<()> {
    if let Some(h) = host.hierarchies.iter().find(|h| h.holds("cpuset")) {
        for dir in created.iter().filter(|d| d.starts_with(&h.mount)) {
            let parent = dir.parent().unwrap_or(&h.mount);
            for file in ["cpuset.cpus", "cpuset.mems"] {
                if fs::read(&dir.join(file))?.trim().is_empty() {
                    let value = fs::read(&parent.join(file))?;
                    fs::write(&dir.join(file), value.trim())?;
                }
            }
        }
    }
    for write in writes {
        let Some(leaf) = leaf_of(host, leaves, write.controller) else {
            bail!(
                "no cgroup v1 hierarchy carries the controller '{}', needed for {}",
                write.controller,
                write.file
            );
        };
        let file = leaf.join(&write.file);
        if write.optional && !file.exists() {
            continue;
        }
        fs::write(&file, &write.value).map_err(|err| missing_file_hint(err, &write.file))?;
    }
    Ok(())
}

/// A write to a file the kernel does not have here: the controller is
/// mounted (that was checked), so this kernel lacks the feature (no
/// `blkio.weight` without the BFQ scheduler, no `memory.memsw.*` without
/// swap accounting, no `cpu.rt_*` without CONFIG_RT_GROUP_SCHED).
pub(super) fn missing_file_hint(err: workshop::SyscallError, file: &str) -> workshop::SyscallError {
    if err.errno == nix::errno::Errno::ENOENT {
        let hint = format!(
            "this kernel has no {file} (the controller is there, the feature is not); \
             remove the setting that asks for it from config.json"
        );
        err.with_hint(hint)
    } else {
        err
    }
}
