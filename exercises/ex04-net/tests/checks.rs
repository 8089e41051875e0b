//! The black-box checks of chapters 1 to 4, the same ones step04 must pass
//! (they live in `testkit::checks`), on the busybox test rootfs. Run them
//! with `cargo test -p ex04`; each failing one says, in a sentence, what
//! behaviour is missing.

testkit::step_tests!(env!("CARGO_BIN_EXE_ex04"), 4);
