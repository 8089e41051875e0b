//! Exercise 9: user namespaces. Your code goes in `src/userns.rs`; you do
//! not need to change this file. The rest of the runtime is step09's own:
//! its parent/child dance (`steps/step09/src/container.rs`) and what changes
//! without root (`steps/step09/src/rootless.rs`), compiled here as they are
//! with your `userns` module in place of step09's, and its `main.rs` (in
//! `src/runtime.rs`). `src/unit_tests.rs` tests your functions one by one,
//! on real processes in user namespaces of their own, before the black-box
//! checks run whole containers.

#[path = "../../../steps/step09/src/container.rs"]
mod container;
#[path = "../../../steps/step09/src/idmap.rs"]
mod idmap;
#[path = "../../../steps/step09/src/rootless.rs"]
mod rootless;
#[cfg(test)]
#[path = "../../../exercises/ex09-userns/src/unit_tests.rs"]
mod unit_tests;
#[path = "../../../steps/step09/src/userns.rs"]
mod userns;

include!("../../../exercises/ex09-userns/src/runtime.rs");
