//! Chapter 6: capabilities and no_new_privs.
//!
//! [`caps`] is this chapter; the rest are chapters 5 to 1, reused as they are.

pub mod caps;
pub use step05::{cgroup, mount, net, pid, rootfs, uts};
