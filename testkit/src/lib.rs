//! Test support shared by the steps' black-box tests, the fetcher's tests,
//! the exercise checks and the grader.
//!
//! - [`rootfs`]: an Alpine-shaped rootfs built from Debian's busybox-static,
//!   as a directory and as a `.tar.gz`, plus hostile archives for the fetcher.
//! - [`server`]: a tiny HTTP server on 127.0.0.1 that serves those archives,
//!   and misbehaves on request (404, truncated body, a stall).
//! - [`oci`]: OCI image layouts (layers, config, manifest) built in Rust.
//! - [`registry`]: docker-registry on loopback (open or token auth), and a
//!   fake registry that serves broken blobs and foreign-platform indexes.
//! - [`run`]: running an implementation under a time limit.
//! - [`host`]: snapshots of the host (mounts, links, cgroups, processes).
//! - [`rootless`]: unprivileged users with and without subordinate ids,
//!   their own rootfs, and running a step binary as one of them (chapter 9).
//! - [`checks`]: the behaviour every chapter's implementation must show.

pub mod checks;
pub mod forked;
pub mod host;
pub mod oci;
pub mod registry;
pub mod rootfs;
pub mod rootless;
pub mod run;
pub mod server;

pub use run::Target;
