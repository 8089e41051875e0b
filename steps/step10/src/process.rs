//! `process`: the command the container runs, and the privileges it runs
//! with. Shared by the container's init (after `start`) and by `exec`.
//!
//! The order matters, and is runc's:
//! 1. rlimits and `oomScoreAdj` (still root, so a limit may be raised);
//! 2. the bounding set cut (needs CAP_SETPCAP, which the user switch loses);
//! 3. the user: supplementary groups, gid, uid, keeping the permitted set
//!    across the switch (`PR_SET_KEEPCAPS`);
//! 4. the effective, permitted and inheritable sets in one capset(2), then
//!    the ambient set;
//! 5. `noNewPrivileges`, then the seccomp filter (the last thing before
//!    execve, so that the runtime's own calls are not filtered; without
//!    no_new_privs it goes in before the capabilities are cut, while
//!    CAP_SYS_ADMIN still allows it);
//! 6. the working directory, then execve with exactly `env`.

use std::collections::HashSet;
use std::ffi::CString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{Capabilities, LinuxCapabilities, Process, Spec};
use workshop::call;

use crate::seccomp::{self, Filter};

// ANCHOR: rlimits
/// `process.rlimits` and `process.oomScoreAdj`.
pub fn set_limits(process: &Process) -> anyhow::Result<()> {
    for r in process.rlimits().iter().flatten() {
        let name = r.typ().to_string();
        let resource = rlimit_number(&name)
            .ok_or_else(|| anyhow::anyhow!("process.rlimits: unknown type {name}"))?;
        let limit = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        call(
            "setrlimit",
            format!("{name}, {{{}, {}}}", r.soft(), r.hard()),
            || {
                // SAFETY: `limit` is a valid rlimit; setrlimit only reads it.
                Errno::result(unsafe { libc::setrlimit(resource, &limit) }).map(drop)
            },
        )?;
    }
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .context("write /proc/self/oom_score_adj")?;
    }
    Ok(())
}
// ANCHOR_END: rlimits

fn rlimit_number(name: &str) -> Option<libc::__rlimit_resource_t> {
    Some(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        _ => return None,
    })
}

/// The seccomp filter `linux.seccomp` describes, compiled with chapter 7's
/// compiler (the OCI format is Docker's without `includes`/`excludes`).
pub fn seccomp_filter(spec: &Spec) -> anyhow::Result<Option<Filter>> {
    let Some(config) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    let text = serde_json::to_string(config)?;
    let profile =
        seccomp::profile::parse(&text).map_err(|e| anyhow::anyhow!("linux.seccomp: {e}"))?;
    let caps = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
        .and_then(|c| c.bounding().as_ref())
        .map(|set| set.iter().map(|c| format!("CAP_{c}")).collect())
        .unwrap_or_default();
    let ctx = seccomp::profile::Context {
        arch: seccomp::native(),
        caps,
        kernel: seccomp::kernel_version(),
    };
    let (policy, unknown) = profile.resolve(&ctx);
    let filter = Filter::new(policy, unknown).map_err(|e| anyhow::anyhow!("linux.seccomp: {e}"))?;
    Ok(Some(filter))
}

/// `args[0]` found as execvp(3) would, in `PATH` of the process's `env`:
/// checked before `start`, so that a missing command fails `create`.
pub fn find_program(process: &Process) -> anyhow::Result<PathBuf> {
    let args = process.args().as_deref().unwrap_or(&[]);
    let Some(program) = args.first() else {
        bail!("process.args is empty");
    };
    if program.contains('/') {
        let path = PathBuf::from(program);
        return if path.is_file() {
            Ok(path)
        } else {
            bail!("process.args[0] {program}: no such file in the container")
        };
    }
    let path_var = env_of(process)
        .into_iter()
        .find_map(|(k, v)| (k == "PATH").then_some(v))
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    for dir in path_var.split(':') {
        let candidate = Path::new(dir).join(program);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("process.args[0] {program:?}: not found in the container's PATH ({path_var})")
}

fn env_of(process: &Process) -> Vec<(String, String)> {
    process
        .env()
        .iter()
        .flatten()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

// ANCHOR: finalize
/// Steps 2 to 6: from root of the container to the command.
pub fn exec(
    process: &Process,
    program: &Path,
    filter: Option<&Filter>,
) -> anyhow::Result<std::convert::Infallible> {
    let nnp = process.no_new_privileges().unwrap_or(false);
    let empty = LinuxCapabilities::default();
    let sets = process.capabilities().as_ref().unwrap_or(&empty);
    if let (Some(filter), false) = (filter, nnp) {
        seccomp::install(filter)?;
    }
    let held = held_capabilities(sets);
    drop_bounding(sets.bounding().as_ref())?;
    switch_user(process)?;
    set_capabilities(sets, held)?;
    if nnp {
        call("prctl", "PR_SET_NO_NEW_PRIVS, 1", || {
            nix::sys::prctl::set_no_new_privs()
        })?;
        if let Some(filter) = filter {
            seccomp::install(filter)?;
        }
    }
    call("chdir", format!("{:?}", process.cwd()), || {
        nix::unistd::chdir(process.cwd())
    })?;
    let cstr = |s: &str| CString::new(s).context("a NUL byte in process.args or process.env");
    let argv = process
        .args()
        .iter()
        .flatten()
        .map(|a| cstr(a))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut env = process
        .env()
        .iter()
        .flatten()
        .map(|e| cstr(e))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // HOME, when the config does not set it: the user's home in the
    // container's /etc/passwd, else `/` (what runc and crun do).
    if !process
        .env()
        .iter()
        .flatten()
        .any(|e| e.starts_with("HOME="))
    {
        env.push(cstr(&format!("HOME={}", home_of(process.user().uid())))?);
    }
    let path = cstr(&program.to_string_lossy())?;
    call("execve", format!("{path:?}, {argv:?}"), || {
        nix::unistd::execve(&path, &argv, &env).map(drop)
    })?;
    unreachable!("execve returns only on failure")
}
// ANCHOR_END: finalize

/// The capabilities the runtime itself holds (its permitted set): a
/// container cannot be given more. Those the config asks for beyond them
/// (a runtime run under a restricted bounding set, as in some CI sandboxes,
/// for `--privileged`'s "all") are left out with one warning, naming them,
/// as Docker does for a privileged container; runc fails instead.
fn held_capabilities(sets: &LinuxCapabilities) -> u64 {
    let held = ::caps::read(None, ::caps::CapSet::Permitted)
        .map(|set| set.iter().fold(0u64, |m, c| m | (1u64 << c.index())))
        .unwrap_or(u64::MAX);
    let asked = [
        sets.bounding(),
        sets.effective(),
        sets.permitted(),
        sets.inheritable(),
        sets.ambient(),
    ]
    .into_iter()
    .fold(0u64, |m, set| m | mask(&numbers(set.as_ref())));
    let missing = asked & !held;
    if missing != 0 {
        let names: Vec<String> = (0..64u8)
            .filter(|n| missing & (1 << n) != 0)
            .map(|n| {
                ::caps::all()
                    .into_iter()
                    .find(|c| c.index() == n)
                    .map_or(n.to_string(), |c| c.to_string())
            })
            .collect();
        eprintln!(
            "{}: warning: process.capabilities: the runtime itself does not hold {}; the container runs without",
            workshop::explain::program(),
            names.join(", ")
        );
    }
    held
}

/// The home directory of `uid` in the container's /etc/passwd, or `/`.
fn home_of(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                (f.len() >= 6 && f[2] == uid.to_string()).then(|| f[5].to_owned())
            })
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into())
}

/// The numbers of a capability set.
fn numbers(set: Option<&Capabilities>) -> HashSet<u8> {
    set.into_iter()
        .flatten()
        .filter_map(|c| {
            let name = format!("CAP_{c}");
            name.parse::<::caps::Capability>().ok().map(|c| c.index())
        })
        .collect()
}

fn mask(set: &HashSet<u8>) -> u64 {
    set.iter().fold(0, |m, n| m | (1u64 << n))
}

fn drop_bounding(bounding: Option<&Capabilities>) -> anyhow::Result<()> {
    let keep = numbers(bounding);
    let last = crate::caps::last_cap();
    for n in 0..=last {
        if keep.contains(&n) {
            continue;
        }
        call("prctl", format!("PR_CAPBSET_DROP, {n}"), || {
            // SAFETY: PR_CAPBSET_DROP takes an integer and changes only the
            // calling thread's bounding set.
            let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(n), 0, 0, 0) };
            Errno::result(rc).map(drop)
        })?;
    }
    Ok(())
}

/// `process.user`: groups first (setgroups needs CAP_SETGID), then the
/// gid, then the uid; PR_SET_KEEPCAPS keeps the permitted set across the
/// uid change so that step 4 can choose from it.
fn switch_user(process: &Process) -> anyhow::Result<()> {
    let user = process.user();
    let (uid, gid) = (Uid::from_raw(user.uid()), Gid::from_raw(user.gid()));
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // In a user namespace whose gid map was written without
    // CAP_SETGID, setgroups(2) is denied for good.
    let denied = std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny");
    if !denied {
        call("setgroups", format!("{groups:?}"), || {
            nix::unistd::setgroups(&groups)
        })?;
    }
    // SAFETY: PR_SET_KEEPCAPS takes an integer and changes only this thread.
    Errno::result(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) })?;
    call("setresgid", format!("{gid}, {gid}, {gid}"), || {
        nix::unistd::setresgid(gid, gid, gid)
    })?;
    call("setresuid", format!("{uid}, {uid}, {uid}"), || {
        nix::unistd::setresuid(uid, uid, uid)
    })?;
    // SAFETY: as above.
    Errno::result(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) })?;
    if let Some(umask) = user.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

// ANCHOR: capabilities
/// Effective, permitted and inheritable in one capset(2) (one at a time,
/// the kernel would refuse an effective set larger than the permitted one
/// on the way), then the ambient set, raised one by one.
fn set_capabilities(sets: &LinuxCapabilities, held: u64) -> anyhow::Result<()> {
    let (e, p, i) = (
        mask(&numbers(sets.effective().as_ref())) & held,
        mask(&numbers(sets.permitted().as_ref())) & held,
        mask(&numbers(sets.inheritable().as_ref())) & held,
    );
    let mut header = CapHeader {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let half = |shift: u32| CapData {
        effective: (e >> shift) as u32,
        permitted: (p >> shift) as u32,
        inheritable: (i >> shift) as u32,
    };
    let data = [half(0), half(32)];
    call(
        "capset",
        format!("effective={e:#x}, permitted={p:#x}, inheritable={i:#x}"),
        || {
            // SAFETY: header and data have the layout capset(2) version 3
            // expects; the kernel only reads them.
            let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
            Errno::result(rc).map(drop)
        },
    )?;
    // SAFETY: PR_CAP_AMBIENT with integer arguments changes only this thread.
    let ambient = |op: libc::c_ulong, n: libc::c_ulong| unsafe {
        Errno::result(libc::prctl(libc::PR_CAP_AMBIENT, op, n, 0, 0)).map(drop)
    };
    call("prctl", "PR_CAP_AMBIENT_CLEAR_ALL", || {
        ambient(libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0)
    })?;
    for n in numbers(sets.ambient().as_ref()) {
        if held & (1 << n) == 0 {
            continue;
        }
        call("prctl", format!("PR_CAP_AMBIENT_RAISE, {n}"), || {
            ambient(libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong, n.into())
        })
        .map_err(|e| {
            e.with_hint("an ambient capability must also be in the permitted and inheritable sets")
        })?;
    }
    Ok(())
}
// ANCHOR_END: capabilities
