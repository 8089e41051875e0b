//! The container's cgroup namespace: inside, its own cgroup is the root of
//! what it sees. See
//! [cgroup_namespaces(7)](https://man7.org/linux/man-pages/man7/cgroup_namespaces.7.html).

use workshop::{SyscallError, call};

// ANCHOR: namespace
/// Child side, once the runtime has put it into its cgroup: a cgroup
/// namespace whose root is that cgroup. Inside, `/proc/self/cgroup` then
/// reads `0::/` (v2) or `N:memory:/` (v1) instead of the host's path, which
/// names the runtime's PID (`ws-<pid>`) and the host's own cgroup layout;
/// and a cgroup filesystem mounted inside shows the container's cgroup as
/// its root, not the host's tree. See cgroup_namespaces(7).
///
/// `unshare` here rather than `CLONE_NEWCGROUP` in `clone3`: the namespace's
/// root is the cgroup its creator is in at that moment, and on cgroup v1 the
/// child is only moved into its cgroup after `clone3`.
pub fn enter_namespace() -> Result<(), SyscallError> {
    call("unshare", "CLONE_NEWCGROUP", || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
    })
}

/// Inside, after `/proc` and `/sys` are mounted: on cgroup v2, the
/// container's own cgroup at `/sys/fs/cgroup`, read-only (what `docker run`
/// shows; a program can read its limits, not change them). On v1 and
/// hybrid hosts nothing is mounted there. The host's `/sys/fs/cgroup` is
/// out of reach by now; `/proc/self/cgroup` tells: on a pure v2 host it is
/// the one line `0::/`.
pub fn mount_namespaced() -> Result<(), SyscallError> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    if own.trim() != "0::/" {
        return Ok(());
    }
    let flags = nix::mount::MsFlags::MS_RDONLY
        | nix::mount::MsFlags::MS_NOSUID
        | nix::mount::MsFlags::MS_NODEV
        | nix::mount::MsFlags::MS_NOEXEC;
    call(
        "mount",
        "\"cgroup2\", \"/sys/fs/cgroup\", \"cgroup2\", MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC",
        || {
            nix::mount::mount(
                Some("cgroup2"),
                "/sys/fs/cgroup",
                Some("cgroup2"),
                flags,
                None::<&str>,
            )
        },
    )
}
// ANCHOR_END: namespace
