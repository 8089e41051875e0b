//! Chapter 7: seccomp.
//!
//! [`seccomp`] (a BPF filter the kernel runs on every syscall, equal in
//! effect to Docker's default profile) is this chapter; the rest are
//! chapters 6 to 1, reused as they are.

pub mod filter;
pub mod seccomp;
pub use step06::{
    caps, cgroup, clone_into_cgroup, devices, environ, masked, mount, net, pid, rootfs, tty, uts,
};
