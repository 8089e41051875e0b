//! Chapter 6: capabilities, and Docker's other defaults.
//!
//! [`caps`] (capabilities, no_new_privs, PID 1's own privileges), [`tty`]
//! (setsid and a terminal of its own), [`masked`] (masked paths),
//! [`environ`] (a clean environment) and [`devices`] (the device cgroup)
//! are this chapter; the rest are chapters 5 to 1, reused as they are.
//! [`privileges`] (the command's capability sets) and [`dev`] (the device
//! rules and a `nodev` root) are re-exported by `caps` and `devices`:
//! they are what exercise 6 asks for.

pub mod caps;
pub mod dev;
pub mod devices;
pub mod environ;
pub mod masked;
pub mod privileges;
pub mod tty;
pub use step05::{cgroup, clone_into_cgroup, mount, net, pid, rootfs, uts};
