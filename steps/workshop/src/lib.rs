//! What every step of the workshop shares, so that each step's own code is
//! only the kernel feature its chapter teaches.
//!
//! - [`explain`]: the `-x/--explain` narration, one line per syscall, in the
//!   order the calls happen, with a timestamp and who made the call.
//! - [`sys`]: the wrapper every syscall goes through. It prints the call when
//!   explaining and turns a failure into a [`sys::SyscallError`] that names the
//!   call, its arguments, the errno and, where a learner can act, a hint.
//! - [`exit`]: the exit-status contract of `docker run` (125, 126, 127, 128+N).
//! - [`exec`]: the last step of every container: close stray descriptors and
//!   `execvp` the command.
//! - [`cli`]: the flags every step has (`--hostname`, `--explain`, the command).

pub mod cli;
pub mod exec;
pub mod exit;
pub mod explain;
pub mod sys;

pub use sys::{SyscallError, call, io_errno};
