//! Exercise 7: seccomp. Your code goes in `src/filter.rs`; you do not need
//! to change this file. The rest of the runtime is step07's own: its
//! parent/child dance (`steps/step07/src/container.rs`, compiled here as it
//! is), its `main.rs` (in `src/runtime.rs`) and the rest of its seccomp
//! module (the profiles, the assembler, `install`). `src/filter_tests.rs`
//! runs your program on chosen calls through step07's BPF interpreter,
//! without root.

#[path = "../../../steps/step07/src/container.rs"]
mod container;
// The answer, written once: step07's own `filter.rs`, in the slot of the
// exercise's `src/filter.rs`.
#[path = "../../../steps/step07/src/filter.rs"]
mod filter;
#[cfg(test)]
#[path = "../../../exercises/ex07-seccomp/src/filter_tests.rs"]
mod filter_tests;

include!("../../../exercises/ex07-seccomp/src/runtime.rs");
