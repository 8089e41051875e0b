//! Exercise 5: the container's own cgroup. Your code goes in `src/leaf.rs`;
//! you do not need to change this file. The rest of the runtime is step05's
//! own: its parent/child dance (`steps/step05/src/container.rs`, compiled
//! here as it is), its `main.rs` (in `src/runtime.rs`) and its cgroup
//! module (finding the hierarchies, checking what the kernel offers, the
//! narrated file operations, reading the OOM count, removal). The cgroup
//! module's unit tests (`steps/step05/src/cgroup/tests.rs`) run your
//! functions on fake cgroup trees, v2 and v1, without root.
//!
//! The solution: step05's own `leaf.rs`, compiled here by path, so that the
//! answer is written once.

#[path = "../../../steps/step05/src/container.rs"]
mod container;
#[path = "../../../steps/step05/src/leaf.rs"]
mod leaf;

include!("../../../exercises/ex05-cgroup/src/runtime.rs");
