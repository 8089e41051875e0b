//! The black-box checks of chapters 1 to 5, the same ones step05 must pass
//! (they live in `testkit::checks`), on the busybox test rootfs: on this
//! host's cgroups (v1 on the project's machines, v2 in the lab VM). Your
//! functions are also tested one by one without root, on fake cgroup trees,
//! by step05's unit tests (`cargo test -p ex05 cgroup::`). Run them all with
//! `cargo test -p ex05`; each failing one says, in a sentence, what behaviour is missing.

testkit::step_tests!(env!("CARGO_BIN_EXE_ex05"), 5);
