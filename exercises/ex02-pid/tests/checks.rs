//! The black-box checks of chapters 1 and 2, the same ones step02 must pass
//! (they live in `testkit::checks`). Run them with `cargo test -p ex02`;
//! each failing one says, in a sentence, what behaviour is missing.

testkit::step_tests!(env!("CARGO_BIN_EXE_ex02"), 2);
