//! Black-box checks of step08, run as root on the busybox test rootfs (now
//! a read-only lower layer under each run's own overlay): every behaviour of
//! chapters 1 to 8, seen from inside the container and from the host. The
//! checks live in `testkit::checks`, shared with the exercises and the grader.

testkit::step_tests!(env!("CARGO_BIN_EXE_step08"), 8);
