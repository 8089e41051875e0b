//! Black-box checks of step07, run as root on the busybox test rootfs: every
//! behaviour of chapters 1 to 7, seen from inside the container and from the
//! host. The checks live in `testkit::checks`, shared with the exercises and
//! the grader.

testkit::step_tests!(env!("CARGO_BIN_EXE_step07"), 7);
