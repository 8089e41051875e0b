//! The black-box checks of chapters 1 to 5, the same ones step05 must pass
//! (they live in `testkit::checks`), on the busybox test rootfs: on this
//! host's cgroups (v1 on the project's machines, v2 in the lab VM). Your v2
//! and v1 files are also tested without root, on step05's fake cgroup trees
//! (`src/limits_tests.rs`). Run them all with `cargo test -p ex05`; each
//! failing one says, in a sentence, what behaviour is missing.

testkit::step_tests!(env!("CARGO_BIN_EXE_ex05"), 5);
