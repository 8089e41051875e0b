//! The command's capability sets: which ones it keeps ([`resolve_with`],
//! Docker's rules for `--cap-add` and `--cap-drop`) and how it is left with
//! exactly those, for good ([`apply`]: the bounding set, ambient, `capset`,
//! `no_new_privs`, in that order). The rest of chapter 6's capability code
//! (the flags, Docker's default set, the raw `capget`/`capset`/`prctl`, PID
//! 1's own privileges) is `caps`'s, which re-exports this module; exercise 6
//! compiles `caps.rs` by path with the learner's `privileges.rs` in place of
//! this one.

use caps::CapsHashSet;
use nix::errno::Errno;
use workshop::{SyscallError, call};

use crate::caps::{
    BaseSets, CapArg, CapsOpt, cap_name, capget, capset, describe, docker_default, last_cap, mask,
    prctl,
};

// ANCHOR: resolve
/// Combines the flags the way `docker run` does (moby's `TweakCapabilities`),
/// with `all` standing for `ALL`:
///
/// 1. `--cap-add ALL`: everything in `all` except the capabilities dropped
///    by name (a `--cap-drop ALL` next to it changes nothing);
/// 2. else `--cap-drop ALL`: exactly the capabilities added by name;
/// 3. else the default set, minus the drops, plus the adds: a capability
///    both added and dropped by name is kept (the add is applied last).
pub fn resolve_with(opt: &CapsOpt, all: &CapsHashSet) -> CapsHashSet {
    let named = |args: &[CapArg]| -> CapsHashSet {
        args.iter()
            .filter_map(|a| match a {
                CapArg::One(cap) => Some(*cap),
                CapArg::All => None,
            })
            .collect()
    };
    let (adds, drops) = (named(&opt.cap_add), named(&opt.cap_drop));
    if opt.cap_add.contains(&CapArg::All) {
        all.difference(&drops).copied().collect()
    } else if opt.cap_drop.contains(&CapArg::All) {
        adds
    } else {
        let mut set: CapsHashSet = docker_default().difference(&drops).copied().collect();
        set.extend(adds);
        set
    }
}
// ANCHOR_END: resolve

// ANCHOR: apply
/// Leaves the calling thread with exactly `set`, for itself and for every
/// program it executes, and sets `no_new_privs`. Call it last, just before
/// `execve`: the mounts, `sethostname` and `pivot_root` before it need
/// `CAP_SYS_ADMIN`, which Docker's default set does not keep.
///
/// Capabilities belong to a thread, not a process: call it in the
/// single-threaded child that is about to become the command.
///
/// Why the bounding set is the heart of it. When root (uid 0) calls
/// `execve`, the kernel treats the new program as if it carried every file
/// capability, so the rules of capabilities(7), "Transformation of
/// capabilities during execve()",
///
/// ```text
/// P'(permitted) = (P(inheritable) & F(inheritable)) | (F(permitted) & P(bounding)) | P'(ambient)
/// P'(effective) = P'(permitted)            (F(effective) is set for root too)
/// ```
///
/// become, with F(inheritable) = F(permitted) = all ones,
///
/// ```text
/// P'(permitted) = P(inheritable) | P(bounding)
/// ```
///
/// (<https://man7.org/linux/man-pages/man7/capabilities.7.html>, sections
/// "Transformation of capabilities during execve()" and "Capabilities and
/// execution of programs by root"). The permitted and effective sets we set
/// with `capset` are thrown away by the very `execve` that starts the
/// command: what it gets is the inheritable set and the bounding set. So the
/// inheritable set must be empty and the bounding set must be exactly `set`.
/// A runtime that only calls `capset`, without `no_new_privs`, has dropped
/// nothing: the command gets the full bounding set back (step06's
/// `tests/caps_apply.rs` checks this from the far side of `execve`).
///
/// `no_new_privs` (step 4) is a second, independent lock: with it set,
/// `execve` never lets P'(permitted) exceed the old P(permitted). Docker sets
/// it only on request (`--security-opt no-new-privileges`), so there the
/// bounding set is the only lock; we keep both.
pub fn apply(set: &CapsHashSet) -> Result<(), SyscallError> {
    let wanted = mask(set);
    workshop::explain!(
        "capabilities: keeping {} (mask {wanted:#018x})",
        describe(set)
    );

    // 1. The bounding set, first. PR_CAPBSET_DROP needs CAP_SETPCAP in the
    // effective set; if capset() ran first and `set` lacks CAP_SETPCAP (as
    // with --cap-drop ALL), every drop would fail with EPERM. Numbers up to
    // the kernel's last capability are dropped, including any newer than
    // the names we know, so nothing is left in the ceiling by accident.
    // Dropping a capability that is already gone succeeds and does nothing.
    for n in 0..=last_cap() {
        if wanted & (1 << n) != 0 {
            continue;
        }
        call("prctl", format!("PR_CAPBSET_DROP, {}", cap_name(n)), || {
            prctl(libc::PR_CAPBSET_DROP, n.into())
        })
        .map_err(|e| match e.errno {
            Errno::EPERM => e.with_hint(
                "dropping from the bounding set needs CAP_SETPCAP in the effective set: \
                 run as root, and drop the bounding set before capset() lowers the effective set",
            ),
            _ => e,
        })?;
    }

    // 2. The ambient set (Linux 4.3+): capabilities a non-root program keeps
    // across execve. Root does not need it, and a container must not
    // inherit one from whoever started the runtime.
    call(
        "prctl",
        "PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0",
        || {
            prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            )
        },
    )?;

    // 3. One capset for the other three: inheritable cleared (the other half
    // of P'(permitted) above), permitted and effective = `set`, so that the
    // runtime's own last steps before execve already run without the rest.
    // capset can lower sets but raise the permitted set never: asking for a
    // capability this process lacks fails with EPERM.
    let before = capget().ok();
    let sets = BaseSets {
        effective: wanted,
        permitted: wanted,
        inheritable: 0,
    };
    call(
        "capset",
        format!("{{version=_LINUX_CAPABILITY_VERSION_3, pid=0}}, {{{sets}}}"),
        || capset(sets),
    )
    .map_err(|e| match (e.errno, before) {
        (Errno::EPERM, Some(before)) if wanted & !before.permitted != 0 => {
            let missing: CapsHashSet = set
                .iter()
                .filter(|c| before.permitted & c.bitmask() == 0)
                .copied()
                .collect();
            let missing = describe(&missing);
            e.with_hint(format!(
                "this runtime does not hold {missing} itself (see CapPrm in /proc/self/status), \
                 and capset cannot grant what a process lacks: --cap-drop it, \
                 or run the runtime with it"
            ))
        }
        _ => e,
    })?;

    // 4. no_new_privs: from now on execve never adds privileges, not through
    // set-user-ID binaries, not through file capabilities, not through root's
    // "all file capabilities" rule (P'(permitted) stays within the current
    // permitted set). It needs no capability, is inherited by every child and
    // kept across execve, and can never be unset. See prctl(2) and
    // https://docs.kernel.org/userspace-api/no_new_privs.html
    call("prctl", "PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0", || {
        nix::sys::prctl::set_no_new_privs()
    })?;
    Ok(())
}
// ANCHOR_END: apply
