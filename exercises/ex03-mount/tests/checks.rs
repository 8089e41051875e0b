//! The black-box checks of chapters 1 to 3, the same ones step03 must pass
//! (they live in `testkit::checks`), on the busybox test rootfs. Run them
//! with `cargo test -p ex03`; each failing one says, in a sentence, what
//! behaviour is missing.

testkit::step_tests!(env!("CARGO_BIN_EXE_ex03"), 3);
