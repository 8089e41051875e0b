//! Exercise 6: less privilege. Your code goes in `src/privileges.rs` (the
//! command's capability sets) and `src/dev.rs` (`/dev` locked); you do not
//! need to change this file. The rest of the runtime is step06's own: its
//! parent/child dance (`steps/step06/src/container.rs`) and its other
//! modules (`caps.rs`, `devices.rs`, `environ.rs`, `masked.rs`, `tty.rs`),
//! compiled here as they are with your two modules in place of step06's,
//! and its `main.rs` (in `src/runtime.rs`).

#[path = "../../../steps/step06/src/container.rs"]
mod container;
mod dev;
mod privileges;

include!("runtime.rs");
