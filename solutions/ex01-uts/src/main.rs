//! Exercise 1: a hostname of its own. Your code goes in `src/uts.rs`; you do
//! not need to change this file. The rest of the runtime (flags, running the
//! command, exit codes) is step01's, in `src/runtime.rs`.

mod uts;

include!("../../../exercises/ex01-uts/src/runtime.rs");
