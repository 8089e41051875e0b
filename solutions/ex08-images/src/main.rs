//! Exercise 8: images. Your code goes in `src/overlay.rs` and
//! `src/whiteout.rs`; you do not need to change this file. The rest of the
//! runtime is step08's own: its parent/child dance
//! (`steps/step08/src/container.rs`, compiled here as it is), its `main.rs`
//! (in `src/runtime.rs`), the registry client and the image store.
//! `src/unit_tests.rs` tests your functions one by one, in temporary
//! directories, before the black-box checks run whole containers.

#[path = "../../../steps/step08/src/container.rs"]
mod container;
mod overlay;
#[cfg(test)]
#[path = "../../../exercises/ex08-images/src/unit_tests.rs"]
mod unit_tests;
mod whiteout;

include!("../../../exercises/ex08-images/src/runtime.rs");
