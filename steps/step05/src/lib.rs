//! Chapter 5: cgroups, the limits on what a container may use.
//!
//! [`cgroup`] is this chapter; the rest are chapters 4 to 1, reused as they are.

pub mod cgroup;
pub use step04::{mount, net, pid, rootfs, uts};
