//! The black-box checks of chapters 1 to 7, the same ones step07 must pass
//! (they live in `testkit::checks`), on the busybox test rootfs. The checks
//! of chapter 7 look from inside the container (`Seccomp:` in
//! `/proc/self/status`, `unshare -U` refused, ordinary programs still
//! running), each door checked open again with `--security-opt
//! seccomp=unconfined`. Your program is also run, without root, on chosen
//! calls through step07's BPF interpreter (`src/filter_tests.rs`). Run them
//! all with `cargo test -p ex07`; each failing one says, in a sentence, what
//! behaviour is missing.

testkit::step_tests!(env!("CARGO_BIN_EXE_ex07"), 7);
