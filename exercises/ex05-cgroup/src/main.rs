//! Exercise 5: limits. Your code goes in `src/limits.rs`; you do not need to
//! change this file. The rest of the runtime is step05's own: its
//! parent/child dance (`steps/step05/src/container.rs`, compiled here as it
//! is) and its `main.rs` (in `src/runtime.rs`). `src/limits_tests.rs` tests
//! your cgroup files on fake cgroup trees (step05's), without root.

#[path = "../../../steps/step05/src/container.rs"]
mod container;
mod limits;
#[cfg(test)]
mod limits_tests;

include!("runtime.rs");
