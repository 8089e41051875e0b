//! The black-box checks of chapters 1 to 9, the same ones step09 must pass
//! (they live in `testkit::checks`), on the busybox test rootfs. As root
//! without `--userns`, ex09 is step08 and passes the checks of chapters 1
//! to 8 whatever your `userns.rs` does; chapter 9's checks run ex09 as an
//! ordinary user, where your maps and your `become_root` decide. Run them
//! all with `cargo test -p ex09-solution`; each failing one says, in a sentence, what
//! behaviour is missing.

testkit::step_tests!(env!("CARGO_BIN_EXE_ex09-solution"), 9);
