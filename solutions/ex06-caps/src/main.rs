//! Exercise 6: less privilege. Your code goes in `src/privileges.rs`; you
//! do not need to change this file. The rest of the runtime is step06's
//! own: its parent/child dance (`steps/step06/src/container.rs`, compiled
//! here as it is) and its `main.rs` (in `src/runtime.rs`).

#[path = "../../../steps/step06/src/container.rs"]
mod container;
mod privileges;

include!("../../../exercises/ex06-caps/src/runtime.rs");
