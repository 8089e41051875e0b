//! Chapter 10: a real OCI runtime.
//!
//! The steps so far took docker-like flags. step10 takes what runc, crun
//! and youki take: an OCI bundle (a `config.json` beside a root
//! filesystem) and the lifecycle commands of the runtime spec, `create`,
//! `start`, `state`, `kill`, `delete`, plus `run`, `list` and `exec`.
//! [`spec`] reads and checks the bundle, [`state`] keeps what `create`
//! leaves for the commands after it, [`cgroups`] places the container in
//! the cgroup its `cgroupsPath` names, [`hooks`] runs the bundle's hooks,
//! [`init`] is the container's side of `create`, [`exec`] joins a running
//! container. The kernel work is chapters 2 to 9's, reused.

pub mod cgroups;
pub use step09::{
    caps, cgroup, clone_into_cgroup, devices, environ, idmap, masked, mount, overlay, pid, rootfs,
    seccomp, tty, userns, uts,
};
