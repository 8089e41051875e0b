//! Exercise 3: pivot_root onto the rootfs. Your code goes in `src/pivot.rs`;
//! you do not need to change this file. The rest of the runtime is step03's
//! own: its parent/child dance (`steps/step03/src/container.rs`, compiled
//! here as it is) and its `main.rs` (in `src/runtime.rs`).

#[path = "../../../steps/step03/src/container.rs"]
mod container;
// The answer, written once: step03's own `pivot.rs`, in the slot of the
// exercise's `src/pivot.rs`.
#[path = "../../../steps/step03/src/pivot.rs"]
mod pivot;

include!("../../../exercises/ex03-mount/src/runtime.rs");
