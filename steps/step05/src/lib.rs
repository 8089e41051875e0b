//! Chapter 5: cgroups, the limits on what a container may use.
//!
//! [`cgroup`] is this chapter, and [`clone_into_cgroup`] its addition to
//! chapter 2's `clone3`; the rest are chapters 4 to 1, reused as they are.

pub mod cgroup;
pub mod clone_into_cgroup;
pub use step04::{mount, net, pid, rootfs, uts};
