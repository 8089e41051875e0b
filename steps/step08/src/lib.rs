//! Chapter 8: images.
//!
//! [`overlay`] (each run's own writable layer over read-only ones) and
//! [`image`] (pulling an image's layers from an OCI registry into a
//! content-addressed store) are this chapter; the rest are chapters 7 to 1,
//! reused as they are.

pub mod image;
pub mod overlay;
pub mod rundir;
pub mod user;
pub mod whiteout;
pub use step07::{
    caps, cgroup, clone_into_cgroup, devices, environ, masked, mount, net, pid, rootfs, seccomp,
    tty, uts,
};
