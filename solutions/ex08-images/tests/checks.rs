//! The black-box checks of chapters 1 to 8, the same ones step08 must pass
//! (they live in `testkit::checks`), on the busybox test rootfs and on
//! images pushed to a registry on loopback. The checks of chapter 8 look
//! from inside the container (its own writes, a root that is an overlay, an
//! image's layers with their deletions) and from the host (the rootfs and
//! the store unchanged, nothing left in the container directory). Run them
//! all with `cargo test -p ex08-solution`; each failing one says, in a sentence, what
//! behaviour is missing.

testkit::step_tests!(env!("CARGO_BIN_EXE_ex08-solution"), 8);
