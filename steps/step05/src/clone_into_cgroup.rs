//! `CLONE_INTO_CGROUP`: chapter 5's addition to chapter 2's `clone3`.
//!
//! With this flag (Linux 5.7) and a descriptor of a cgroup v2 directory in
//! `clone_args.cgroup`, the kernel creates the child *inside* that cgroup:
//! there is no moment at which it runs outside its limits, and no
//! `cgroup.procs` write is needed. cgroup v1 has no such thing; there the
//! parent moves the waiting child in. See clone3(2), "CLONE_INTO_CGROUP".

use std::os::fd::BorrowedFd;

/// `CLONE_INTO_CGROUP` of `<linux/sched.h>`.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Makes `clone3` start the child inside the cgroup v2 directory open as
/// this descriptor (the one `Cgroup::clone_into_fd` hands out). What it
/// adds to `clone_args` is in `leaf.rs`, with the rest of the chapter's
/// answer: `impl CloneExtra for IntoCgroup`.
pub struct IntoCgroup<'fd>(pub BorrowedFd<'fd>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pid::{CloneArgs, CloneExtra};
    use std::os::fd::{AsFd, AsRawFd};

    #[test]
    fn the_flag_and_the_descriptor_go_into_clone_args() {
        let dir = std::fs::File::open("/").unwrap();
        let fd = dir.as_fd();
        let mut args = CloneArgs {
            flags: nix::sched::CloneFlags::CLONE_NEWPID.bits() as u64,
            ..CloneArgs::default()
        };
        let shown = IntoCgroup(fd).add_to(&mut args);
        assert_eq!(
            args.flags,
            nix::sched::CloneFlags::CLONE_NEWPID.bits() as u64 | CLONE_INTO_CGROUP
        );
        assert_eq!(args.cgroup, fd.as_raw_fd() as u64);
        assert_eq!(
            shown,
            ("CLONE_INTO_CGROUP", format!("cgroup=fd {}", fd.as_raw_fd()))
        );
    }
}
