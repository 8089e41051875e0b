//! The black-box checks of chapters 1 to 6, the same ones step06 must pass
//! (they live in `testkit::checks`), on the busybox test rootfs. The checks
//! of chapter 6 read the capability sets from inside the container
//! (`/proc/self/status`), so a drop that silently does nothing fails. Run
//! them with `cargo test -p ex06-solution`; each failing one says, in a sentence, what
//! behaviour is missing.

testkit::step_tests!(env!("CARGO_BIN_EXE_ex06-solution"), 6);
