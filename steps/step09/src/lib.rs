//! Chapter 9: user namespaces.
//!
//! [`userns`] (the handshake that gives a user namespace its IDs) is this
//! chapter, [`idmap`] the maps it writes; [`rootless`] is what changes when the runtime is not root (its
//! directories, its cgroup, its network); the rest are chapters 8 to 1,
//! reused as they are.

pub mod idmap;
pub mod rootless;
pub mod userns;
pub use step08::{
    caps, cgroup, clone_into_cgroup, devices, environ, image, masked, mount, net, overlay, pid,
    rootfs, seccomp, tty, user, uts, whiteout,
};
