//! Chapter 2: the PID namespace and a real PID 1.
//!
//! [`pid`] is this chapter; [`uts`] is chapter 1's module, reused as it is.

pub mod init;
pub mod pid;
pub use step01::uts;
