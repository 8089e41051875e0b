//! Black-box checks of step05, run as root on the busybox test rootfs: every
//! behaviour of chapters 1 to 5, seen from inside the container and from the
//! host. The checks live in `testkit::checks`, shared with the exercises and
//! the grader.

testkit::step_tests!(env!("CARGO_BIN_EXE_step05"), 5);
