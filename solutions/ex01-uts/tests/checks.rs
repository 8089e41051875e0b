//! The black-box checks of chapter 1, the same ones step01 must pass (they
//! live in `testkit::checks::uts`). Run them with `cargo test -p ex01-solution`; each
//! failing one says, in a sentence, what behaviour is missing.

testkit::step_tests!(env!("CARGO_BIN_EXE_ex01-solution"), 1);
