//! Exercise 2: PID 1's duties. Your code goes in `src/init.rs`; you do not
//! need to change this file. The rest of the runtime is step02's own: its
//! parent/child dance (`steps/step02/src/container.rs`, compiled here as it
//! is) and its `main.rs` (in `src/runtime.rs`).

#[path = "../../../steps/step02/src/container.rs"]
mod container;
// The answer, written once: step02's own `init.rs`, in the slot of the
// exercise's `src/init.rs`.
#[path = "../../../steps/step02/src/init.rs"]
mod init;

include!("../../../exercises/ex02-pid/src/runtime.rs");
