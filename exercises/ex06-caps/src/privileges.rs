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

// Given: what the steps above use.
#[allow(unused_imports)]
use caps::{CapSet, Capability, CapsHashSet};
#[allow(unused_imports)]
use nix::errno::Errno;
#[allow(unused_imports)]
use step06::caps::{CapArg, CapsOpt, available, describe, docker_default};
use workshop::SyscallError;
#[allow(unused_imports)]
use workshop::call;

/// The capabilities the command keeps: Docker's default set adjusted by
/// `--cap-add` and `--cap-drop` (see the module doc for `ALL`).
// The stub does not use its argument yet; your code will.
#[allow(unused_variables)]
pub fn resolve(opt: &CapsOpt) -> CapsHashSet {
    // TODO: the named capabilities of opt.cap_add and opt.cap_drop
    // (`CapArg::One(cap)`; `CapArg::All` is ALL).

    // TODO: --cap-add ALL: available() minus the drops.

    // TODO: --cap-drop ALL: only the adds.

    // TODO: otherwise: docker_default() minus the drops, plus the adds.

    todo!("Docker's default set, minus --cap-drop, plus --cap-add")
}

/// Cuts the calling process's capabilities down to `set` in all five sets,
/// then sets no_new_privs. Runs in the command's process, just before exec.
// The stub does not use its argument yet; your code will.
#[allow(unused_variables)]
pub fn apply(set: &CapsHashSet) -> Result<(), SyscallError> {
    workshop::explain!("capabilities: keeping {}", describe(set));

    // TODO: 1. The bounding set: drop every capability this kernel knows
    // (`caps::all()`, or `step06::caps::kernel_known(step06::caps::last_cap())`)
    // that is not in `set`.

    // TODO: 2. Clear the ambient set.

    // TODO: 3. Effective = set, then permitted = set, then inheritable cleared.

    // TODO: 4. no_new_privs.

    todo!("bounding drop, ambient clear, capset, no_new_privs")
}
