//! Chapter 5: cgroups, the limits on what a container may use.
//!
//! [`cgroup`] is this chapter, and [`clone_into_cgroup`] its addition to
//! chapter 2's `clone3`; the rest are chapters 4 to 1, reused as they are.
//! The heart of it, the container's own cgroup made and joined, is
//! `leaf.rs`, which both modules re-export (exercise 5 has you write it).

pub mod cgroup;
pub mod clone_into_cgroup;
mod leaf;
pub use step04::{mount, net, pid, rootfs, uts};
