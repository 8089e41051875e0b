//! The bundle: a directory with a `config.json` and the root filesystem it
//! names. Read with the `oci-spec` crate, then checked: everything step10
//! does not implement is refused here, in one line, before anything is
//! created, never ignored in silence.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// A bundle that passed [`load`].
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory, absolute.
    pub dir: PathBuf,
    pub spec: Spec,
    /// `root.path`, absolute (relative paths are relative to the bundle).
    pub rootfs: PathBuf,
}

// ANCHOR: load
/// Reads `DIR/config.json` and checks it.
pub fn load(dir: &Path) -> anyhow::Result<Bundle> {
    let dir = std::path::absolute(dir).with_context(|| format!("bundle {}", dir.display()))?;
    let file = dir.join("config.json");
    if !file.is_file() {
        bail!(
            "no config.json in {}: a bundle is a directory holding config.json and the root \
             filesystem it names (make one with: step10 spec --bundle {})",
            dir.display(),
            dir.display()
        );
    }
    // serde_json's own error says where (`unknown variant "CAP_TEST" ... at
    // line 40 column 17`); oci-spec's loader reduces it to "serde failed".
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
    let spec: Spec = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e}; fix the file (its schema is the OCI runtime spec's config.json)",
            file.display()
        )
    })?;
    let root = spec.root().as_ref().ok_or_else(|| {
        anyhow::anyhow!("{}: no \"root\": say where the root filesystem is, e.g. \"root\": {{\"path\": \"rootfs\"}}", file.display())
    })?;
    let rootfs = dir.join(root.path());
    if !rootfs.is_dir() {
        bail!(
            "{}: root.path {} is not a directory; unpack a root filesystem there",
            file.display(),
            rootfs.display()
        );
    }
    let major = spec.version().split('.').next().unwrap_or("");
    if major != "1" || spec.version().split('.').count() < 3 {
        bail!(
            "{}: ociVersion {:?} is not a 1.x.y version of the runtime spec; step10 implements 1.x (e.g. \"1.0.2\")",
            file.display(),
            spec.version()
        );
    }
    check_supported(&spec).with_context(|| file.display().to_string())?;
    Ok(Bundle { dir, spec, rootfs })
}
// ANCHOR_END: load

/// What step10 does not implement, each refused with what to do instead.
/// The spec allows a runtime to refuse what it cannot do; it does not
/// allow running the container without it.
fn check_supported(spec: &Spec) -> anyhow::Result<()> {
    let unsupported = |what: &str| -> anyhow::Result<()> {
        bail!("{what} is not supported by step10: remove it from config.json")
    };
    if let Some(process) = spec.process() {
        if process
            .apparmor_profile()
            .as_deref()
            .is_some_and(|p| !p.is_empty())
        {
            unsupported("process.apparmorProfile")?;
        }
        if process
            .selinux_label()
            .as_deref()
            .is_some_and(|p| !p.is_empty())
        {
            unsupported("process.selinuxLabel")?;
        }
        if process.io_priority().is_some() {
            unsupported("process.ioPriority")?;
        }
        if process.scheduler().is_some() {
            unsupported("process.scheduler")?;
        }
        if process.exec_cpu_affinity().is_some() {
            unsupported("process.execCPUAffinity")?;
        }
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            bail!("process.args is empty: give the command to run, e.g. \"args\": [\"sh\"]");
        }
        if !process.cwd().is_absolute() {
            bail!(
                "process.cwd {:?} is not absolute: the spec requires an absolute path",
                process.cwd()
            );
        }
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if linux.intel_rdt().is_some() {
        unsupported("linux.intelRdt")?;
    }
    if linux.memory_policy().is_some() {
        unsupported("linux.memoryPolicy")?;
    }
    if linux.time_offsets().is_some() {
        unsupported("linux.timeOffsets")?;
    }
    if linux.net_devices().is_some() {
        unsupported("linux.netDevices")?;
    }
    if linux.personality().is_some() {
        unsupported("linux.personality")?;
    }
    if let Some(label) = linux.mount_label() {
        // SELinux labels mean something only where SELinux is on. crun and
        // runc ignore the label on a host without it, as we do; with it, we
        // refuse.
        if !label.is_empty() && Path::new("/sys/fs/selinux/enforce").exists() {
            unsupported("linux.mountLabel on an SELinux host")?;
        }
    }
    if let Some(seccomp) = linux.seccomp() {
        if seccomp.listener_path().is_some() {
            unsupported("linux.seccomp.listenerPath")?;
        }
    }
    let mut seen = Vec::new();
    for ns in linux.namespaces().iter().flatten() {
        if seen.contains(&ns.typ()) {
            bail!(
                "linux.namespaces lists {:?} twice: give each type once",
                ns.typ()
            );
        }
        seen.push(ns.typ());
        if ns.typ() == LinuxNamespaceType::Time && ns.path().is_none() {
            unsupported("a new time namespace")?;
        }
        if let Some(path) = ns.path() {
            if !path.is_absolute() {
                bail!(
                    "linux.namespaces: the {:?} path {} is not absolute",
                    ns.typ(),
                    path.display()
                );
            }
        }
    }
    let has = |t: LinuxNamespaceType| seen.contains(&t);
    if (linux.uid_mappings().is_some() || linux.gid_mappings().is_some())
        && !has(LinuxNamespaceType::User)
    {
        bail!(
            "linux.uidMappings are set but no user namespace is asked for: add {{\"type\": \"user\"}} to linux.namespaces"
        );
    }
    if let Some(sysctl) = linux.sysctl() {
        for key in sysctl.keys() {
            check_sysctl(key, &has)?;
        }
    }
    Ok(())
}

/// A sysctl may be set only when the container has the namespace that
/// makes it its own (runc's list): otherwise it would change the host.
fn check_sysctl(key: &str, has: &dyn Fn(LinuxNamespaceType) -> bool) -> anyhow::Result<()> {
    const IPC: [&str; 7] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
    ];
    let (ns, name) = if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        (LinuxNamespaceType::Ipc, "ipc")
    } else if key.starts_with("net.") {
        (LinuxNamespaceType::Network, "network")
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        (LinuxNamespaceType::Uts, "uts")
    } else {
        bail!("linux.sysctl {key:?} is not namespaced: it would change the host; remove it");
    };
    if !has(ns) {
        bail!(
            "linux.sysctl {key:?} needs a {name} namespace of the container's own: add {{\"type\": \"{name}\"}} to linux.namespaces"
        );
    }
    Ok(())
}

// ANCHOR: default
/// `step10 spec`: a config.json to start from, as `runc spec` writes one:
/// `sh` as root with Docker's capabilities, the usual mounts, new PID,
/// network, IPC, UTS, mount and cgroup namespaces, the masked and
/// read-only paths of chapter 6.
pub fn write_default(bundle: &Path) -> anyhow::Result<()> {
    let file = bundle.join("config.json");
    if file.exists() {
        bail!("{} exists already: remove it first", file.display());
    }
    let caps = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ];
    let config = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "step10",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    std::fs::write(&file, serde_json::to_string_pretty(&config)? + "\n")
        .with_context(|| format!("write {}", file.display()))?;
    println!(
        "wrote {}; put a root filesystem in {}",
        file.display(),
        bundle.join("rootfs").display()
    );
    Ok(())
}
// ANCHOR_END: default
