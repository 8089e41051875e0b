//! `CLONE_INTO_CGROUP`: chapter 5's addition to chapter 2's `clone3`.
//!
//! With this flag (Linux 5.7) and a descriptor of a cgroup v2 directory in
//! `clone_args.cgroup`, the kernel creates the child *inside* that cgroup:
//! there is no moment at which it runs outside its limits, and no
//! `cgroup.procs` write is needed. cgroup v1 has no such thing; there the
//! parent moves the waiting child in. See clone3(2), "CLONE_INTO_CGROUP".

use std::os::fd::{AsRawFd, BorrowedFd};

use crate::pid::{CloneArgs, CloneExtra};

/// `CLONE_INTO_CGROUP` of `<linux/sched.h>`.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

// ANCHOR: into_cgroup
/// Makes `clone3` start the child inside the cgroup v2 directory open as
/// this descriptor (the one `Cgroup::clone_into_fd` hands out).
pub struct IntoCgroup<'fd>(pub BorrowedFd<'fd>);

impl CloneExtra for IntoCgroup<'_> {
    fn add_to(&self, args: &mut CloneArgs) -> (&'static str, String) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = self.0.as_raw_fd() as u64;
        (
            "CLONE_INTO_CGROUP",
            format!("cgroup=fd {}", self.0.as_raw_fd()),
        )
    }
}
// ANCHOR_END: into_cgroup

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

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
