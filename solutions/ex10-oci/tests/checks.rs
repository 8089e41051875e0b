//! The black-box checks of chapter 10 (`exercises/ex10-oci/tests/`), run
//! against the solution: `cargo test -p ex10-solution`.

const BIN: &str = env!("CARGO_BIN_EXE_ex10-solution");

include!("../../../exercises/ex10-oci/tests/lifecycle/checks.rs");
