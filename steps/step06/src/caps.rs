//! Capabilities: what root inside the container may still do.
//!
//! Namespaces hide things from the container and cgroups limit how much it
//! uses, but the command still runs as uid 0, and root holds every
//! *capability*: the ~40 pieces the kernel splits root's power into
//! (`CAP_SYS_ADMIN` mounts and sets the hostname, `CAP_NET_ADMIN` changes
//! links and routes, `CAP_SYS_MODULE` loads kernel modules, ...). See
//! [capabilities(7)](https://man7.org/linux/man-pages/man7/capabilities.7.html).
//!
//! This step gives the command Docker's default set (14 capabilities: enough
//! to `chown`, bind port 80, `ping`, change user; not enough to mount, load a
//! module or reconfigure the network), adjustable with `--cap-add` and
//! `--cap-drop`, and then sets `no_new_privs` so that nothing the command
//! executes later can get any back.
//!
//! A process has five capability sets, each a 64-bit mask you can read in
//! `/proc/PID/status`:
//!
//! | set | line | what it is |
//! |---|---|---|
//! | effective | `CapEff` | what the kernel checks right now |
//! | permitted | `CapPrm` | the most the effective set may be raised to |
//! | inheritable | `CapInh` | what may pass through `execve` to files that ask for it |
//! | bounding | `CapBnd` | a ceiling on what any `execve` can ever give |
//! | ambient | `CapAmb` | passed through `execve` to programs without file capabilities |
//!
//! [`apply`] sets all five, in an order that matters; its comments say why.
//! It lives in `privileges.rs` with [`resolve_with`] (the flags' rules),
//! both re-exported here: exercise 6 compiles this file as it is, with the
//! learner's `privileges` module.

use std::fmt;

use caps::{Capability, CapsHashSet};
use nix::errno::Errno;
use workshop::{SyscallError, call};

/// The command's sets: [`resolve_with`] and [`apply`].
pub use crate::privileges::*;

// ANCHOR: opt
/// `--cap-add` and `--cap-drop`, flattened into step06's arguments.
///
/// Example: `step06 --cap-drop ALL --cap-add NET_BIND_SERVICE -- httpd -p 80`
/// runs `httpd` with exactly one capability.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CapsOpt {
    /// Give the command a capability beyond Docker's default set
    /// (repeatable; with or without CAP_, any case; ALL for every one this
    /// kernel has), e.g. --cap-add NET_ADMIN.
    #[arg(long = "cap-add", value_name = "CAP", value_parser = parse_cap_arg)]
    pub cap_add: Vec<CapArg>,

    /// Take a capability away from the command (repeatable; ALL takes all,
    /// leaving only the --cap-add ones), e.g. --cap-drop NET_RAW.
    #[arg(long = "cap-drop", value_name = "CAP", value_parser = parse_cap_arg)]
    pub cap_drop: Vec<CapArg>,
}

/// One value of `--cap-add` / `--cap-drop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapArg {
    /// `ALL`: every capability.
    All,
    /// One named capability.
    One(Capability),
}
// ANCHOR_END: opt

/// Parses `net_admin`, `NET_ADMIN`, `cap_net_admin` or `CAP_NET_ADMIN`
/// (capabilities(7) spells them with `CAP_`, Docker without), and `ALL`.
pub fn parse_cap_arg(s: &str) -> Result<CapArg, String> {
    let name = s.trim();
    if name.eq_ignore_ascii_case("all") {
        return Ok(CapArg::All);
    }
    let canonical = caps::to_canonical(name);
    match canonical.parse::<Capability>() {
        Ok(cap) => Ok(CapArg::One(cap)),
        Err(_) => Err(format!(
            "unknown capability \"{canonical}\"; see capabilities(7), e.g. NET_ADMIN or SYS_ADMIN"
        )),
    }
}

// ANCHOR: default
/// Docker's default capability set (moby's `oci/caps/defaults.go`): what
/// most programs need, and nothing that reaches outside the container.
pub fn docker_default() -> CapsHashSet {
    use Capability::*;
    [
        CAP_CHOWN,
        CAP_DAC_OVERRIDE,
        CAP_FSETID,
        CAP_FOWNER,
        CAP_MKNOD,
        CAP_NET_RAW,
        CAP_SETGID,
        CAP_SETUID,
        CAP_SETFCAP,
        CAP_SETPCAP,
        CAP_NET_BIND_SERVICE,
        CAP_SYS_CHROOT,
        CAP_KILL,
        CAP_AUDIT_WRITE,
    ]
    .into_iter()
    .collect()
}
// ANCHOR_END: default

/// The command's capability set: Docker's default adjusted by the flags.
///
/// Only `--cap-add ALL` needs to know the machine (see [`available`]);
/// everything else is [`resolve_with`], which is pure.
pub fn resolve(opt: &CapsOpt) -> CapsHashSet {
    if opt.cap_add.contains(&CapArg::All) {
        resolve_with(opt, &available())
    } else {
        resolve_with(opt, &CapsHashSet::new())
    }
}

/// The set as a bit mask, bit N for capability number N: the number
/// `/proc/PID/status` prints in its `CapEff:` line (`0x00000000a80425fb`
/// for Docker's default).
pub fn mask(set: &CapsHashSet) -> u64 {
    set.iter().fold(0, |m, cap| m | cap.bitmask())
}

/// The set's names in capability-number order, for messages.
pub fn describe(set: &CapsHashSet) -> String {
    let mut caps: Vec<Capability> = set.iter().copied().collect();
    caps.sort_by_key(|c| c.index());
    let names: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
    if names.is_empty() {
        "(none)".into()
    } else {
        names.join(",")
    }
}

/// What `ALL` means here: every capability the running kernel knows
/// (`/proc/sys/kernel/cap_last_cap`) that this process still has in its
/// permitted set. Docker (moby's `oci/caps/utils_linux.go`) narrows `ALL` to
/// the current process's capabilities the same way, because `capset` refuses
/// to grant what the caller lacks: a runtime started inside a VM or a
/// container that already lost, say, `CAP_SYS_RESOURCE` would otherwise fail
/// on every `--cap-add ALL`.
pub fn available() -> CapsHashSet {
    let known = kernel_known(last_cap());
    match capget() {
        Ok(sets) => known
            .into_iter()
            .filter(|c| sets.permitted & c.bitmask() != 0)
            .collect(),
        Err(_) => known,
    }
}

/// The capabilities numbered `0..=last_cap` (those this crate has names for).
pub fn kernel_known(last_cap: u8) -> CapsHashSet {
    caps::all()
        .into_iter()
        .filter(|c| c.index() <= last_cap)
        .collect()
}

/// The contents of `/proc/sys/kernel/cap_last_cap` ("40\n" on Linux 5.9+).
pub fn parse_last_cap(text: &str) -> Option<u8> {
    text.trim().parse().ok().filter(|&n: &u8| n < 64)
}

/// The highest capability number this kernel knows. `/proc` says it; where
/// `/proc` is not mounted, asking the bounding set for each number in turn
/// finds it too (`PR_CAPBSET_READ` answers EINVAL past the last one).
pub fn last_cap() -> u8 {
    if let Some(n) = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .as_deref()
        .and_then(parse_last_cap)
    {
        return n;
    }
    let mut last = 0;
    for n in 0..64 {
        // SAFETY: PR_CAPBSET_READ only reads the calling thread's bounding set.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_READ, n as libc::c_ulong, 0, 0, 0) };
        if rc < 0 {
            break;
        }
        last = n;
    }
    last
}

/// The name of capability number `n` (`CAP_SYS_ADMIN`), or the number for a
/// capability newer than the `caps` crate.
pub(crate) fn cap_name(n: u8) -> String {
    caps::all()
        .into_iter()
        .find(|c| c.index() == n)
        .map_or_else(|| n.to_string(), |c| c.to_string())
}

/// The three sets `capget`/`capset` move, as 64-bit masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

impl fmt::Display for BaseSets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "effective={:#018x}, permitted={:#018x}, inheritable={:#018x}",
            self.effective, self.permitted, self.inheritable
        )
    }
}

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets, passed as two 32-bit halves.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct` of `<linux/capability.h>`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`: one 32-bit half of each set.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `capget(2)` for the calling thread.
pub fn capget() -> nix::Result<BaseSets> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and data are the layouts capget(2) expects for
    // version 3 (one header, two data structs); the kernel writes only into them.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    Errno::result(rc)?;
    let join = |low: u32, high: u32| u64::from(low) | u64::from(high) << 32;
    Ok(BaseSets {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

/// `capset(2)` for the calling thread.
pub(crate) fn capset(sets: BaseSets) -> nix::Result<()> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let half = |shift: u32| CapData {
        effective: (sets.effective >> shift) as u32,
        permitted: (sets.permitted >> shift) as u32,
        inheritable: (sets.inheritable >> shift) as u32,
    };
    let data = [half(0), half(32)];
    // SAFETY: header and data are the layouts capset(2) expects for
    // version 3; the kernel only reads the data.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    Errno::result(rc).map(drop)
}

/// `prctl(option, arg2, 0, 0, 0)` for the options that take one argument.
pub(crate) fn prctl(option: libc::c_int, arg2: libc::c_ulong) -> nix::Result<()> {
    // SAFETY: the options used here (PR_CAPBSET_DROP, PR_CAP_AMBIENT) take
    // integers only and change only the calling thread's credentials.
    let rc = unsafe { libc::prctl(option, arg2, 0 as libc::c_ulong, 0 as libc::c_ulong, 0) };
    Errno::result(rc).map(drop)
}

// ANCHOR: confine_init
/// PID 1's own privileges, once the command is started. PID 1 only waits,
/// reaps and passes signals on, so it keeps:
///
/// - the command's bounding set, an empty inheritable and ambient set and
///   `no_new_privs`, as the command has (it is [`apply`] with `set`);
/// - of `set`, only CAP_KILL in its permitted and effective sets: a command
///   that switched to another user can only be signalled with it;
/// - and it is no longer *dumpable* (prctl(2) `PR_SET_DUMPABLE`): its
///   `/proc/1/*` files (`exe` is the runtime's binary on the host, `fd` its
///   descriptors) then belong to root and open only with CAP_SYS_PTRACE, and
///   it cannot be ptraced without it either.
///
/// Before this step PID 1 kept all of root's capabilities: a command given
/// `--cap-add SYS_PTRACE` could attach to it and run code with every one.
pub fn confine_init(set: &CapsHashSet) -> Result<(), SyscallError> {
    apply(set)?;
    let keep = mask(set) & Capability::CAP_KILL.bitmask();
    let sets = BaseSets {
        effective: keep,
        permitted: keep,
        inheritable: 0,
    };
    call(
        "capset",
        format!("{{version=_LINUX_CAPABILITY_VERSION_3, pid=0}}, {{{sets}}}"),
        || capset(sets),
    )?;
    call("prctl", "PR_SET_DUMPABLE, 0", || {
        nix::sys::prctl::set_dumpable(false)
    })
}
// ANCHOR_END: confine_init

#[cfg(test)]
mod tests {
    use super::*;
    use Capability::*;

    fn opt(add: &[&str], drop: &[&str]) -> CapsOpt {
        let parse = |v: &[&str]| v.iter().map(|s| parse_cap_arg(s).unwrap()).collect();
        CapsOpt {
            cap_add: parse(add),
            cap_drop: parse(drop),
        }
    }

    fn set(caps: &[Capability]) -> CapsHashSet {
        caps.iter().copied().collect()
    }

    #[test]
    fn names_parse_with_or_without_cap_and_in_any_case() {
        for s in [
            "NET_ADMIN",
            "net_admin",
            "CAP_NET_ADMIN",
            "cap_net_admin",
            "Cap_Net_Admin",
            " net_admin ",
        ] {
            assert_eq!(parse_cap_arg(s), Ok(CapArg::One(CAP_NET_ADMIN)), "{s:?}");
        }
        assert_eq!(parse_cap_arg("sys_admin"), Ok(CapArg::One(CAP_SYS_ADMIN)));
        assert_eq!(parse_cap_arg("mknod"), Ok(CapArg::One(CAP_MKNOD)));
        for s in ["ALL", "all", "All"] {
            assert_eq!(parse_cap_arg(s), Ok(CapArg::All), "{s:?}");
        }
    }

    #[test]
    fn unknown_names_are_a_clear_error() {
        assert_eq!(
            parse_cap_arg("fly").unwrap_err(),
            "unknown capability \"CAP_FLY\"; see capabilities(7), e.g. NET_ADMIN or SYS_ADMIN"
        );
        assert!(
            parse_cap_arg("CAP_FLY")
                .unwrap_err()
                .contains("\"CAP_FLY\"")
        );
        assert!(parse_cap_arg("").is_err());
        assert!(parse_cap_arg("CAP_").is_err());
        // ALL is a word of its own, not a capability name.
        assert!(parse_cap_arg("CAP_ALL").is_err());
    }

    #[test]
    fn the_flags_parse_through_clap() {
        use clap::Parser;
        #[derive(Parser, Debug)]
        struct Args {
            #[command(flatten)]
            caps: CapsOpt,
        }
        let args = Args::try_parse_from([
            "step06",
            "--cap-drop",
            "all",
            "--cap-add",
            "net_bind_service",
            "--cap-add=CAP_KILL",
        ])
        .unwrap();
        assert_eq!(args.caps.cap_drop, vec![CapArg::All]);
        assert_eq!(
            args.caps.cap_add,
            vec![CapArg::One(CAP_NET_BIND_SERVICE), CapArg::One(CAP_KILL)]
        );
        let err = Args::try_parse_from(["step06", "--cap-add", "fly"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--cap-add"), "{err}");
        assert!(err.contains("unknown capability \"CAP_FLY\""), "{err}");
    }

    #[test]
    fn docker_default_mask_is_the_sum_of_its_capability_numbers() {
        // The numbers of <linux/capability.h>, written out independently of
        // the caps crate: CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, FSETID 4,
        // KILL 5, SETGID 6, SETUID 7, SETPCAP 8, NET_BIND_SERVICE 10,
        // NET_RAW 13, SYS_CHROOT 18, MKNOD 27, AUDIT_WRITE 29, SETFCAP 31.
        let numbers = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31];
        let by_hand = numbers.iter().fold(0u64, |m, n| m | 1 << n);
        assert_eq!(by_hand, 0x0000_0000_a804_25fb);
        assert_eq!(docker_default().len(), 14);
        assert_eq!(mask(&docker_default()), 0x0000_0000_a804_25fb);
    }

    #[test]
    fn masks_match_the_proc_status_numbering() {
        assert_eq!(mask(&CapsHashSet::new()), 0);
        assert_eq!(mask(&set(&[CAP_CHOWN])), 0x1);
        assert_eq!(mask(&set(&[CAP_SYS_ADMIN])), 1 << 21);
        assert_eq!(mask(&set(&[CAP_NET_ADMIN, CAP_NET_RAW])), 0x3000);
        // Linux 5.9+ (cap_last_cap = 40): all 41 capabilities.
        assert_eq!(mask(&kernel_known(40)), 0x0000_01ff_ffff_ffff);
        // Linux 5.8-: up to CAP_AUDIT_READ (37).
        assert_eq!(mask(&kernel_known(37)), 0x0000_003f_ffff_ffff);
    }

    #[test]
    fn no_flags_means_docker_default() {
        assert_eq!(
            resolve_with(&CapsOpt::default(), &kernel_known(40)),
            docker_default()
        );
        assert_eq!(resolve(&CapsOpt::default()), docker_default());
    }

    #[test]
    fn adds_and_drops_by_name_adjust_the_default() {
        let all = kernel_known(40);
        let r = resolve_with(&opt(&["NET_ADMIN"], &["NET_RAW", "mknod"]), &all);
        assert!(r.contains(&CAP_NET_ADMIN));
        assert!(!r.contains(&CAP_NET_RAW));
        assert!(!r.contains(&CAP_MKNOD));
        assert_eq!(r.len(), 13);
        assert_eq!(mask(&r), (0xa80425fb | 1 << 12) & !(1 << 13) & !(1 << 27));
        // Named both ways: the add is applied last, as in Docker.
        let r = resolve_with(&opt(&["SYS_ADMIN"], &["SYS_ADMIN", "KILL"]), &all);
        assert!(r.contains(&CAP_SYS_ADMIN));
        assert!(!r.contains(&CAP_KILL));
    }

    #[test]
    fn drop_all_keeps_only_the_adds() {
        let all = kernel_known(40);
        assert!(resolve_with(&opt(&[], &["ALL"]), &all).is_empty());
        assert_eq!(
            resolve_with(&opt(&["net_bind_service"], &["all", "NET_RAW"]), &all),
            set(&[CAP_NET_BIND_SERVICE])
        );
    }

    #[test]
    fn add_all_takes_all_but_the_named_drops() {
        let all = kernel_known(40);
        assert_eq!(resolve_with(&opt(&["ALL"], &[]), &all), all);
        let r = resolve_with(&opt(&["ALL"], &["SYS_ADMIN", "sys_module"]), &all);
        assert_eq!(r.len(), 39);
        assert!(!r.contains(&CAP_SYS_ADMIN) && !r.contains(&CAP_SYS_MODULE));
        // Docker: ALL added wins over ALL dropped.
        assert_eq!(resolve_with(&opt(&["ALL"], &["ALL"]), &all), all);
        // ALL is only what the machine has: an older kernel has fewer.
        assert_eq!(
            mask(&resolve_with(&opt(&["ALL"], &[]), &kernel_known(37))),
            0x3f_ffff_ffff
        );
    }

    #[test]
    fn all_means_what_the_kernel_knows_and_this_process_holds() {
        let held = capget().unwrap().permitted;
        let known = mask(&kernel_known(last_cap()));
        assert_eq!(mask(&available()), held & known);
        assert_eq!(
            resolve(&opt(&["ALL"], &["SYS_ADMIN"])),
            available()
                .into_iter()
                .filter(|c| *c != CAP_SYS_ADMIN)
                .collect()
        );
    }

    #[test]
    fn last_cap_file_parses() {
        assert_eq!(parse_last_cap("40\n"), Some(40));
        assert_eq!(parse_last_cap("37"), Some(37));
        assert_eq!(parse_last_cap(""), None);
        assert_eq!(parse_last_cap("64"), None);
        assert_eq!(parse_last_cap("x"), None);
    }

    #[test]
    fn this_kernel_knows_the_capabilities_proc_says() {
        let text = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").unwrap();
        assert_eq!(last_cap(), parse_last_cap(&text).unwrap());
        assert!(last_cap() >= 37, "capability numbers up to CAP_AUDIT_READ");
    }

    #[test]
    fn names_are_listed_in_number_order() {
        assert_eq!(
            describe(&set(&[CAP_SYS_ADMIN, CAP_CHOWN, CAP_NET_RAW])),
            "CAP_CHOWN,CAP_NET_RAW,CAP_SYS_ADMIN"
        );
        assert_eq!(describe(&CapsHashSet::new()), "(none)");
        assert_eq!(cap_name(21), "CAP_SYS_ADMIN");
        assert_eq!(cap_name(63), "63");
    }

    #[test]
    fn base_sets_print_like_proc_status() {
        let sets = BaseSets {
            effective: 0xa80425fb,
            permitted: 0xa80425fb,
            inheritable: 0,
        };
        assert_eq!(
            sets.to_string(),
            "effective=0x00000000a80425fb, permitted=0x00000000a80425fb, inheritable=0x0000000000000000"
        );
    }
}
