//! cgroup v2: one tree, one directory per cgroup, and other files than
//! v1's, often in other units. The OCI fields were named after v1, so a
//! runtime translates; these are runc's translations, which crun and youki
//! share:
//!
//! | OCI field | v2 file |
//! |---|---|
//! | memory.limit | `memory.max` (-1: `max`) |
//! | memory.reservation | `memory.low` |
//! | memory.swap (memory + swap) | `memory.swap.max` = swap − limit (swap only) |
//! | cpu.shares (2 to 262144, default 1024) | `cpu.weight` (1 to 10000, default 100) = 1 + (shares − 2) × 9999 / 262142 |
//! | cpu.quota, period | `cpu.max` = `"<quota> <period>"` (quota ≤ 0: `max`) |
//! | cpu.cpus, mems | `cpuset.cpus`, `cpuset.mems` |
//! | pids.limit | `pids.max` (≤ 0: `max`) |
//! | blockIO.weight (10 to 1000) | `io.weight` (1 to 10000) = 1 + (weight − 10) × 9999 / 990 |
//! | blockIO.throttle* | `io.max` = `"8:0 rbps=N"` (`wbps`, `riops`, `wiops`) |
//! | hugepageLimits | `hugetlb.<size>.max` |
//! | unified | each key is a file name, each value written as is |
//! | devices | no files: an eBPF program (step06's `devices::restrict_v2`) |
//!
//! A controller's files exist in a cgroup only if its parent enabled the
//! controller for its children: `+memory` in the parent's
//! `cgroup.subtree_control`, which the parent's parent must have enabled,
//! and so on from the root. [`apply`] does that for every ancestor.
//! v1-only fields (kernel memory, swappiness, the OOM killer switch) have
//! no v2 file: as runc does, they are ignored.
//!
//! See [the kernel's cgroup v2 guide](https://docs.kernel.org/admin-guide/cgroup-v2.html).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};
use step09::cgroup::cgroupfs::{open_dir, read_list};
use step09::devices::{Kind, MKNOD, READ, Rule, WRITE, restrict_v2};

use super::fs;

/// What to do in the container's v2 directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The controllers to enable from the root down to the parent.
    pub controllers: Vec<String>,
    /// (file, value), in order.
    pub writes: Vec<(String, String)>,
    /// The device allowlist for the eBPF program; `None`: no program
    /// (every device allowed, the v2 default).
    pub devices: Option<Vec<Rule>>,
}

impl Plan {
    fn set(&mut self, controller: &str, file: &str, value: impl ToString) {
        self.need(controller);
        self.writes.push((file.to_owned(), value.to_string()));
    }

    fn need(&mut self, controller: &str) {
        if !self.controllers.iter().any(|c| c == controller) {
            self.controllers.push(controller.to_owned());
        }
    }
}

/// runc's `ConvertCPUSharesToCgroupV2Value`: v1's shares (2 to 262144)
/// mapped linearly onto v2's weight (1 to 10000); 0 means unset.
pub fn cpu_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262144) - 2) * 9999 / 262142
}

/// runc's `BlkioWeightToIOWeight`: blkio.weight (10 to 1000) onto
/// io.weight (1 to 10000).
pub fn io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight).clamp(10, 1000) - 10) * 9999 / 990
}

/// runc's `ConvertMemorySwapToCgroupV2Value`: OCI's swap is memory plus
/// swap (as v1's `memory.memsw.limit_in_bytes`), v2's `memory.swap.max`
/// is swap alone. `None`: leave the file alone.
pub fn swap_max(swap: Option<i64>, limit: Option<i64>) -> anyhow::Result<Option<String>> {
    match (swap, limit) {
        // Memory unlimited and swap not given: both unlimited.
        (None | Some(0), Some(-1)) => Ok(Some("max".to_owned())),
        (None | Some(0), _) => Ok(None),
        (Some(-1), _) => Ok(Some("max".to_owned())),
        (Some(swap), Some(limit)) if limit > 0 => {
            if swap < limit {
                bail!(
                    "linux.resources.memory.swap ({swap}) is memory + swap and must be at \
                     least memory.limit ({limit})"
                );
            }
            Ok(Some((swap - limit).to_string()))
        }
        (Some(swap), _) => bail!(
            "linux.resources.memory.swap ({swap}) needs a memory.limit on cgroup v2 \
             (memory.swap.max is swap - limit); set linux.resources.memory.limit"
        ),
    }
}

/// An OCI access string (`rwm`) as step06's access bits.
fn access_bits(access: Option<&str>) -> anyhow::Result<u32> {
    let mut bits = 0;
    for c in access.unwrap_or("rwm").chars() {
        bits |= match c {
            'r' => READ,
            'w' => WRITE,
            'm' => MKNOD,
            _ => bail!("device access {access:?} has {c:?}; it takes r, w and m"),
        };
    }
    Ok(bits)
}

fn number(n: Option<i64>, what: &str) -> anyhow::Result<Option<u32>> {
    n.map(|n| u32::try_from(n).with_context(|| format!("device {what} {n} is out of range")))
        .transpose()
}

/// The device kinds an OCI type covers (`a`: both; `p`: none, FIFOs are
/// no devices the cgroup checks).
fn kinds(typ: Option<LinuxDeviceType>) -> Vec<Kind> {
    match typ.unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => vec![Kind::Block, Kind::Char],
        LinuxDeviceType::B => vec![Kind::Block],
        LinuxDeviceType::C | LinuxDeviceType::U => vec![Kind::Char],
        LinuxDeviceType::P => vec![],
    }
}

fn is_everything(entry: &LinuxDeviceCgroup) -> anyhow::Result<bool> {
    Ok(matches!(entry.typ(), None | Some(LinuxDeviceType::A))
        && entry.major().is_none()
        && entry.minor().is_none()
        && access_bits(entry.access().as_deref())? == READ | WRITE | MKNOD)
}

// ANCHOR: v2_devices
/// The OCI device list (ordered allow and deny entries; the last that
/// matches decides) as the allowlist step06's eBPF program takes. v2 allows
/// every device until a program says otherwise, so: a deny of everything
/// starts an empty allowlist, allows add to it, an allow of everything
/// ends it. A deny of part of what is allowed has no allowlist form: error.
pub fn device_rules(entries: &[LinuxDeviceCgroup]) -> anyhow::Result<Option<Vec<Rule>>> {
    let mut allowed: Option<Vec<Rule>> = None; // None: everything
    for entry in entries {
        let everything = is_everything(entry)?;
        let access = access_bits(entry.access().as_deref())?;
        let major = number(entry.major(), "major")?;
        let minor = number(entry.minor(), "minor")?;
        let rules: Vec<Rule> = kinds(entry.typ())
            .into_iter()
            .map(|kind| Rule {
                kind,
                major,
                minor,
                access,
            })
            .collect();
        match (entry.allow(), everything, &mut allowed) {
            (true, true, _) => allowed = None,
            (true, false, None) => {} // already allowed
            (true, false, Some(list)) => list.extend(rules),
            (false, true, _) => allowed = Some(Vec::new()),
            (false, false, Some(list)) => {
                let overlaps = |a: &Rule, b: &Rule| {
                    a.kind == b.kind
                        && (a.major.is_none() || b.major.is_none() || a.major == b.major)
                        && (a.minor.is_none() || b.minor.is_none() || a.minor == b.minor)
                        && a.access & b.access != 0
                };
                if list.iter().any(|a| rules.iter().any(|d| overlaps(a, d))) {
                    bail!(
                        "linux.resources.devices denies {:?} after allowing part of it; cgroup \
                         v2's device program takes an allowlist: list a deny of everything \
                         first, then only allows",
                        super::v1::device_line(entry)
                    );
                }
            }
            (false, false, None) => bail!(
                "linux.resources.devices denies {:?} while allowing every other device; cgroup \
                 v2's device program takes an allowlist: list a deny of everything \
                 ({{\"allow\": false, \"access\": \"rwm\"}}) first, then the allows",
                super::v1::device_line(entry)
            ),
        }
    }
    Ok(allowed)
}
// ANCHOR_END: v2_devices

// ANCHOR: v2_translate
/// Everything `resources` asks, as v2 files, with the controllers they need.
pub fn translate(resources: &LinuxResources) -> anyhow::Result<Plan> {
    let mut plan = Plan::default();
    if let Some(mem) = resources.memory().as_ref() {
        if let Some(swap) = swap_max(mem.swap(), mem.limit())? {
            plan.set("memory", "memory.swap.max", swap);
        }
        if let Some(limit) = mem.limit() {
            let value = if limit == -1 {
                "max".to_owned()
            } else {
                limit.to_string()
            };
            plan.set("memory", "memory.max", value);
        }
        if let Some(low) = mem.reservation() {
            let value = if low == -1 {
                "max".to_owned()
            } else {
                low.to_string()
            };
            plan.set("memory", "memory.low", value);
        }
        // kernel, kernelTCP, swappiness, disableOOMKiller: v1 only.
    }
    if let Some(cpu) = resources.cpu().as_ref() {
        if cpu.realtime_runtime().is_some_and(|r| r != 0)
            || cpu.realtime_period().is_some_and(|p| p != 0)
        {
            bail!(
                "linux.resources.cpu.realtimeRuntime/realtimePeriod have no cgroup v2 file \
                 (v2 has no realtime budget per cgroup); remove them from config.json"
            );
        }
        let weight = cpu.shares().map_or(0, cpu_weight);
        if weight != 0 {
            plan.set("cpu", "cpu.weight", weight);
        }
        let quota = cpu.quota().unwrap_or(0);
        let period = cpu.period().unwrap_or(0);
        if quota != 0 || period != 0 {
            let mut value = if quota > 0 {
                quota.to_string()
            } else {
                "max".to_owned()
            };
            if period != 0 {
                value += &format!(" {period}");
            }
            plan.set("cpu", "cpu.max", value);
        }
        if let Some(burst) = cpu.burst() {
            plan.set("cpu", "cpu.max.burst", burst);
        }
        if let Some(idle) = cpu.idle() {
            plan.set("cpu", "cpu.idle", idle);
        }
        if let Some(cpus) = cpu.cpus().as_deref().filter(|s| !s.is_empty()) {
            plan.set("cpuset", "cpuset.cpus", cpus);
        }
        if let Some(mems) = cpu.mems().as_deref().filter(|s| !s.is_empty()) {
            plan.set("cpuset", "cpuset.mems", mems);
        }
    }
    if let Some(pids) = resources.pids().as_ref() {
        let limit = pids.limit();
        let value = if limit > 0 {
            limit.to_string()
        } else {
            "max".to_owned()
        };
        plan.set("pids", "pids.max", value);
    }
    if let Some(blkio) = resources.block_io().as_ref() {
        if let Some(weight) = blkio.weight() {
            plan.set("io", "io.weight", io_weight(weight));
        }
        for dev in blkio.weight_device().iter().flatten() {
            if let Some(weight) = dev.weight() {
                let line = format!("{}:{} {}", dev.major(), dev.minor(), io_weight(weight));
                plan.set("io", "io.weight", line);
            }
        }
        for (list, key) in [
            (blkio.throttle_read_bps_device(), "rbps"),
            (blkio.throttle_write_bps_device(), "wbps"),
            (blkio.throttle_read_iops_device(), "riops"),
            (blkio.throttle_write_iops_device(), "wiops"),
        ] {
            for dev in list.iter().flatten() {
                let line = format!("{}:{} {key}={}", dev.major(), dev.minor(), dev.rate());
                plan.set("io", "io.max", line);
            }
        }
    }
    for limit in resources.hugepage_limits().iter().flatten() {
        let file = format!("hugetlb.{}.max", limit.page_size());
        plan.set("hugetlb", &file, limit.limit());
    }
    if resources.network().is_some() {
        bail!(
            "linux.resources.network (net_cls, net_prio) has no cgroup v2 controller; \
             remove it from config.json"
        );
    }
    // unified: written as is, in a stable order; "memory.high" needs memory.
    let mut unified: Vec<(&String, &String)> = resources.unified().iter().flatten().collect();
    unified.sort();
    for (file, value) in unified {
        if file.contains('/') || file.starts_with('.') || file.is_empty() {
            bail!("linux.resources.unified key {file:?} is not a cgroup file name");
        }
        match file.split_once('.') {
            Some(("cgroup", _)) => plan.writes.push((file.clone(), value.clone())),
            Some((controller, _)) => plan.set(controller, file, value),
            None => bail!("linux.resources.unified key {file:?} is not a cgroup file name"),
        }
    }
    if let Some(entries) = resources.devices().as_ref() {
        plan.devices = device_rules(entries)?;
    }
    Ok(plan)
}
// ANCHOR_END: v2_translate

/// Enables the plan's controllers in every ancestor of `leaf` from the root
/// down (one write of `+a +b` per `cgroup.subtree_control` that lacks
/// some), writes the files, and attaches the device program.
pub fn apply(root: &Path, leaf: &Path, plan: &Plan) -> anyhow::Result<()> {
    let below = leaf.strip_prefix(root).unwrap_or(leaf);
    let mut ancestors: Vec<PathBuf> = vec![root.to_owned()];
    let mut current = root.to_owned();
    let parts: Vec<_> = below.components().collect();
    for part in parts.iter().take(parts.len().saturating_sub(1)) {
        current.push(part);
        ancestors.push(current.clone());
    }
    for dir in &ancestors {
        if plan.controllers.is_empty() {
            break;
        }
        let offered_file = dir.join("cgroup.controllers");
        let offered = read_list(&offered_file)?;
        if let Some(missing) = plan.controllers.iter().find(|c| !offered.contains(c)) {
            bail!(
                "linux.resources needs the cgroup controller '{missing}', which {offered_file:?} \
                 does not offer (it lists {offered:?}); remove that setting from config.json, \
                 or enable the controller in the parent cgroups"
            );
        }
        let enabled = read_list(&dir.join("cgroup.subtree_control"))?;
        let add: Vec<String> = plan
            .controllers
            .iter()
            .filter(|c| !enabled.contains(c))
            .map(|c| format!("+{c}"))
            .collect();
        if !add.is_empty() {
            fs::write(&dir.join("cgroup.subtree_control"), &add.join(" "))?;
        }
    }
    for (file, value) in &plan.writes {
        let path = leaf.join(file);
        // Without swap accounting there is no memory.swap.max; "max" is
        // then what the kernel does anyway.
        if file == "memory.swap.max" && value == "max" && !path.exists() {
            continue;
        }
        fs::write(&path, value).map_err(|err| super::v1::missing_file_hint(err, file))?;
    }
    if let Some(rules) = &plan.devices {
        let fd = open_dir(leaf)?;
        restrict_v2(std::os::fd::AsFd::as_fd(&fd), rules)?;
    }
    Ok(())
}
