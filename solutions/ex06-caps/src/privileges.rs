//! # Exercise 6: less privilege (capabilities and no_new_privs)
//!
//! Read first: chapter 6 of the book, `book/src/ch06-caps.md`.
//!
//! The command runs as uid 0 and, so far, holds every capability root has.
//! This exercise gives it Docker's default set instead (14 capabilities:
//! `step06::caps::docker_default()`), adjusted by `--cap-add` and
//! `--cap-drop`, and makes sure nothing it executes can get the rest back.
//! Two functions are yours:
//!
//! - [`resolve`] computes the set from the flags (pure, no syscalls):
//!   Docker's default, minus every `--cap-drop`, plus every `--cap-add`.
//!   `ALL` is special: `--cap-add ALL` starts from every capability this
//!   process holds (`step06::caps::available()`) minus the drops;
//!   `--cap-drop ALL` starts from nothing, plus the adds.
//! - [`apply`] makes it so, in the command's process just before `execve`
//!   (step06's `container.rs` calls it there), in an order that matters:
//!   1. Drop every capability *not* in the set from the bounding set
//!      (`prctl(PR_CAPBSET_DROP)`), the ceiling on what any `execve` can
//!      give. First: dropping needs `CAP_SETPCAP` in the effective set.
//!   2. Clear the ambient set (`prctl(PR_CAP_AMBIENT_CLEAR_ALL)`).
//!   3. `capset(2)`: effective and permitted = the set, inheritable empty.
//!      Effective must stay within permitted at every moment.
//!   4. `prctl(PR_SET_NO_NEW_PRIVS, 1)`: from now on `execve` never adds a
//!      privilege (setuid binaries, file capabilities).
//!
//! The `caps` crate has every capability call (`caps::drop`, `caps::clear`,
//! `caps::set` with a `caps::CapSet`), `nix` has no_new_privs
//! (`nix::sys::prctl::set_no_new_privs`). Make every call through
//! `workshop::call(name, args, || ...)` so `-x` narrates it; the closure
//! returns a `nix::Result`, so turn a `caps` error into the errno it left:
//! `.map_err(|_| nix::errno::Errno::last())`.
//!
//! Done when `cargo test -p ex06` passes: the same checks as step06. They
//! look from *inside* the container (`/proc/self/status`: CapEff, CapPrm,
//! CapBnd, CapInh, CapAmb, NoNewPrivs), so a drop that silently does nothing
//! fails. Stuck? `exercises/hints.toml` has hints, each more specific than
//! the last.
//!
//! SOLUTION: this is the instructor's copy; the filled gaps are marked
//! `// SOLUTION:`. It does what step06's `caps::resolve` and `caps::apply`
//! do, through the `caps` crate.

// Given: what the steps above use.
use caps::{CapSet, Capability, CapsHashSet};
use nix::errno::Errno;
use step06::caps::{CapArg, CapsOpt, available, describe, docker_default};
use workshop::SyscallError;
use workshop::call;

/// The capabilities the command keeps: Docker's default set adjusted by
/// `--cap-add` and `--cap-drop` (see the module doc for `ALL`).
pub fn resolve(opt: &CapsOpt) -> CapsHashSet {
    // SOLUTION: the named ones; ALL is handled below.
    let named = |args: &[CapArg]| -> CapsHashSet {
        args.iter()
            .filter_map(|a| match a {
                CapArg::One(cap) => Some(*cap),
                CapArg::All => None,
            })
            .collect()
    };
    let (adds, drops) = (named(&opt.cap_add), named(&opt.cap_drop));
    // SOLUTION: ALL means what this process holds: capset cannot grant more.
    if opt.cap_add.contains(&CapArg::All) {
        available().difference(&drops).copied().collect()
    } else if opt.cap_drop.contains(&CapArg::All) {
        adds
    } else {
        let mut set: CapsHashSet = docker_default().difference(&drops).copied().collect();
        set.extend(adds);
        set
    }
}

/// Cuts the calling process's capabilities down to `set` in all five sets,
/// then sets no_new_privs. Runs in the command's process, just before exec.
pub fn apply(set: &CapsHashSet) -> Result<(), SyscallError> {
    workshop::explain!("capabilities: keeping {}", describe(set));

    // SOLUTION: 1. The bounding set first, while CAP_SETPCAP is still
    // effective. Every capability the kernel knows, so none stays in the
    // ceiling by accident.
    let known = step06::caps::kernel_known(step06::caps::last_cap());
    let mut to_drop: Vec<Capability> = known.difference(set).copied().collect();
    to_drop.sort_by_key(|c| c.index());
    for cap in to_drop {
        call("prctl", format!("PR_CAPBSET_DROP, {cap}"), || {
            caps::drop(None, CapSet::Bounding, cap).map_err(|_| Errno::last())
        })?;
    }

    // SOLUTION: 2. Ambient: kept across execve by non-root programs; a
    // container must not inherit one from whoever started the runtime.
    call("prctl", "PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL", || {
        caps::clear(None, CapSet::Ambient).map_err(|_| Errno::last())
    })?;

    // SOLUTION: 3. capset lowers sets (it can never raise permitted).
    // Effective first, so that it is never above permitted.
    call("capset", format!("effective = {}", describe(set)), || {
        caps::set(None, CapSet::Effective, set).map_err(|_| Errno::last())
    })?;
    call("capset", format!("permitted = {}", describe(set)), || {
        caps::set(None, CapSet::Permitted, set).map_err(|_| Errno::last())
    })?;
    call("capset", "inheritable = {}", || {
        caps::clear(None, CapSet::Inheritable).map_err(|_| Errno::last())
    })?;

    // SOLUTION: 4. no_new_privs: execve never adds privileges again; it is
    // inherited by every child and can never be unset.
    call("prctl", "PR_SET_NO_NEW_PRIVS, 1", || {
        nix::sys::prctl::set_no_new_privs()
    })?;
    Ok(())
}
