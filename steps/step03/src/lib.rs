//! Chapter 3: the mount namespace, pivot_root onto the rootfs, and the
//! filesystems every container expects (/proc, /dev, /sys).
//!
//! [`mount`] is this chapter; [`rootfs`] finds (or fetches) the root
//! filesystem; [`pid`] and [`uts`] are chapters 2 and 1, reused as they are.

pub mod mount;
pub mod pivot;
pub mod rootfs;
pub use step02::{pid, uts};
