//! Chapter 10: a real OCI runtime.
//!
//! The steps so far took docker-like flags. step10 takes what runc, crun
//! and youki take: an OCI bundle (a `config.json` beside a root
//! filesystem) and the lifecycle commands of the runtime spec, `create`,
//! `start`, `state`, `kill`, `delete`, plus `run`, `list` and `exec`.
//!
//! [`spec`] reads and checks the bundle, [`state`] keeps what `create`
//! leaves for the commands after it, [`create`] and [`init`] are the two
//! sides of `create` (talking over [`sync`]), [`rootfs`] builds the
//! container's filesystem from the config, [`cgroups`] its cgroup,
//! [`process`] the command's privileges, [`hooks`] the bundle's hooks,
//! [`ops`] the commands after `create`, [`exec`] joins a running
//! container. The kernel work is chapters 2 to 9's, reused.

pub mod cgroups;
pub mod create;
pub mod exec;
pub mod hooks;
pub mod init;
pub mod lifecycle;
pub mod ops;
pub mod process;
pub mod rootfs;
pub mod spec;
pub mod state;
pub mod sync;
pub use step09::{caps, idmap, mount, pid, seccomp, tty};
