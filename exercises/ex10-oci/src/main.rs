//! Exercise 10: an OCI runtime. Your code goes in `src/lifecycle.rs`; you do
//! not need to change this file. The rest of the runtime is step10's own:
//! the bundle (`steps/step10/src/spec.rs`), the state directory
//! (`state.rs`), the two sides of `create` (`create.rs`, `init.rs`) and the
//! commands after it (`ops.rs`, `exec.rs`), compiled here as they are with
//! your `lifecycle` module in place of step10's, and its `main.rs` (in
//! `src/runtime.rs`). `src/unit_tests.rs` tests your functions one by one,
//! on real processes, FIFOs and namespaces, before the black-box checks of
//! `tests/checks.rs` run whole containers.

// step10's library keeps a few accessors of the cgroup (`dirs`, `created`)
// that this binary does not call.
#[allow(dead_code)]
#[path = "../../../steps/step10/src/cgroups/mod.rs"]
mod cgroups;
// It also holds `ns_file` and `same_namespace`, which nothing calls until
// your `join_namespaces` does.
#[allow(dead_code)]
#[path = "../../../steps/step10/src/create.rs"]
mod create;
#[path = "../../../steps/step10/src/exec.rs"]
mod exec;
#[path = "../../../steps/step10/src/hooks.rs"]
mod hooks;
#[path = "../../../steps/step10/src/init.rs"]
mod init;
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
mod unit_tests;

include!("runtime.rs");
