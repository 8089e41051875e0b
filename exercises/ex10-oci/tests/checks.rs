//! The black-box checks of chapter 10: the built `ex10` binary, run as root
//! on a real bundle (the busybox test rootfs), through the lifecycle of the
//! runtime spec: `create` leaves the command waiting, `start` runs it,
//! `state` tells created from running from stopped, `kill` and `delete` end
//! it, `exec` enters its namespaces. Each runs with a `--root` of its own
//! and deletes its container, also when it fails. Run them with `cargo test
//! -p ex10`; each failing one says, in a sentence, what behaviour is
//! missing.

const BIN: &str = env!("CARGO_BIN_EXE_ex10");

include!("lifecycle/checks.rs");
