//! Chapter 4: the network namespace and a veth pair to the host.
//!
//! [`net`] is this chapter, with [`wire`] (both ends of the veth pair)
//! re-exported in it; [`mount`], [`rootfs`], [`pid`] and [`uts`] are
//! chapters 3, 2 and 1, reused as they are.

pub mod net;
pub mod wire;
pub use step03::{mount, pid, rootfs, uts};
