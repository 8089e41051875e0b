//! Solution of exercise 10: an OCI runtime. The runtime is step10's own,
//! compiled by path as the exercise compiles it, with step10's
//! `lifecycle.rs` (the answer, written once) in place of the learner's, and
//! the exercise's `src/runtime.rs` and `src/unit_tests.rs`.

// step10's library keeps a few accessors of the cgroup (`dirs`, `created`)
// that this binary does not call.
#[allow(dead_code)]
#[path = "../../../steps/step10/src/cgroups/mod.rs"]
mod cgroups;
#[path = "../../../steps/step10/src/create.rs"]
mod create;
#[path = "../../../steps/step10/src/exec.rs"]
mod exec;
#[path = "../../../steps/step10/src/hooks.rs"]
mod hooks;
#[path = "../../../steps/step10/src/init.rs"]
mod init;
#[path = "../../../steps/step10/src/lifecycle.rs"]
mod lifecycle;
#[path = "../../../steps/step10/src/ops.rs"]
mod ops;
#[path = "../../../steps/step10/src/process.rs"]
mod process;
#[path = "../../../steps/step10/src/rootfs.rs"]
mod rootfs;
#[path = "../../../steps/step10/src/spec.rs"]
mod spec;
#[path = "../../../steps/step10/src/state.rs"]
mod state;
#[path = "../../../steps/step10/src/sync.rs"]
mod sync;
#[cfg(test)]
#[path = "../../../exercises/ex10-oci/src/unit_tests.rs"]
mod unit_tests;

include!("../../../exercises/ex10-oci/src/runtime.rs");
