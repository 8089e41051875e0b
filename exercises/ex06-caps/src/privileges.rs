//! # Exercise 6, part 1: less privilege (capabilities and no_new_privs)
//!
//! Read first: chapter 6 of the book, `book/src/ch06-caps.md`.
//!
//! The command runs as uid 0 and, so far, holds every capability root has.
//! This part gives it Docker's default set instead (14 capabilities:
//! `caps::docker_default()`), adjusted by `--cap-add` and `--cap-drop`, and
//! makes sure nothing it executes can get the rest back. Two functions are
//! yours (part 2, `/dev`, is in `src/dev.rs`):
//!
//! - [`resolve_with`] computes the set from the flags (pure, no syscalls),
//!   with `all` standing for `ALL`: Docker's default, minus every
//!   `--cap-drop`, plus every `--cap-add`. `--cap-add ALL` is `all` minus the
//!   capabilities dropped by name; `--cap-drop ALL` (without an add ALL) is
//!   only the adds. (step06's `caps::resolve` calls it with `all` = what this
//!   process holds.)
//! - [`apply`] makes it so, in the command's process just before `execve`
//!   (step06's `container.rs` calls it there, and `caps::confine_init` in PID
//!   1 once the command started), in an order that matters:
//!   1. Drop every capability *not* in the set from the bounding set
//!      (`prctl(PR_CAPBSET_DROP, n)`, for every number `n` up to the
//!      kernel's last, `caps::last_cap()`), the ceiling on what any `execve`
//!      can give. First: dropping needs `CAP_SETPCAP` in the effective set.
//!   2. Clear the ambient set (`prctl(PR_CAP_AMBIENT,
//!      PR_CAP_AMBIENT_CLEAR_ALL)`).
//!   3. `capset(2)`: effective and permitted = the set, inheritable empty.
//!   4. `prctl(PR_SET_NO_NEW_PRIVS, 1)`: from now on `execve` never adds a
//!      privilege (setuid binaries, file capabilities).
//!
//! step06's `caps` (`steps/step06/src/caps.rs`) has the raw calls:
//! `caps::prctl(option, arg)`, `caps::capset(BaseSets { effective,
//! permitted, inheritable })` with 64-bit masks (`caps::mask(set)`: bit N for
//! capability N), and `caps::cap_name(n)` for messages; `nix` has
//! `nix::sys::prctl::set_no_new_privs`. Make every call through
//! `workshop::call(name, args, || ...)` so `-x` narrates it and a failure
//! names it.
//!
//! Done when `cargo test -p ex06` passes: step06's unit tests of
//! `resolve_with` (in `caps.rs`) and the same black-box checks as step06.
//! They look from *inside* the container (`/proc/self/status`: CapEff,
//! CapPrm, CapBnd, CapInh, CapAmb, NoNewPrivs), so a drop that silently
//! does nothing fails. Stuck? `exercises/hints.toml` has hints, each more
//! specific than the last.

// Given: what the steps above use.
#[allow(unused_imports)]
use caps::CapsHashSet;
#[allow(unused_imports)]
use workshop::{SyscallError, call};

#[allow(unused_imports)]
use crate::caps::{
    BaseSets, CapArg, CapsOpt, cap_name, capset, describe, docker_default, last_cap, mask, prctl,
};

/// Combines the flags the way `docker run` does (moby's `TweakCapabilities`),
/// with `all` standing for `ALL`:
///
/// 1. `--cap-add ALL`: everything in `all` except the capabilities dropped
///    by name (a `--cap-drop ALL` next to it changes nothing);
/// 2. else `--cap-drop ALL`: exactly the capabilities added by name;
/// 3. else the default set, minus the drops, plus the adds: a capability
///    both added and dropped by name is kept (the add is applied last).
// The stub does not use its arguments yet; your code will.
#[allow(unused_variables)]
pub fn resolve_with(opt: &CapsOpt, all: &CapsHashSet) -> CapsHashSet {
    // TODO: the named capabilities of opt.cap_add and opt.cap_drop
    // (`CapArg::One(cap)`; `CapArg::All` is ALL).

    // TODO: 1. --cap-add ALL: `all` minus the drops.

    // TODO: 2. --cap-drop ALL: only the adds.

    // TODO: 3. otherwise: docker_default() minus the drops, plus the adds.

    todo!("Docker's default set, minus --cap-drop, plus --cap-add")
}

/// Leaves the calling thread with exactly `set`, for itself and for every
/// program it executes, and sets `no_new_privs`. Runs in the command's
/// process, just before exec.
// The stub does not use its argument yet; your code will.
#[allow(unused_variables)]
pub fn apply(set: &CapsHashSet) -> Result<(), SyscallError> {
    let wanted = mask(set);
    workshop::explain!(
        "capabilities: keeping {} (mask {wanted:#018x})",
        describe(set)
    );

    // TODO: 1. The bounding set: PR_CAPBSET_DROP of every number
    // 0..=last_cap() whose bit is not in `wanted`.

    // TODO: 2. Clear the ambient set.

    // TODO: 3. capset: effective = permitted = wanted, inheritable 0.

    // TODO: 4. no_new_privs.

    todo!("bounding drop, ambient clear, capset, no_new_privs")
}
