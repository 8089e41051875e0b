//! Black-box checks of step09, run as root on the busybox test rootfs: every
//! behaviour of chapters 1 to 8 (as root without --userns, step09 is
//! step08), and chapter 9's, which run step09 as an ordinary user made for
//! the tests. The checks live in `testkit::checks`, shared with the
//! exercises and the grader.

testkit::step_tests!(env!("CARGO_BIN_EXE_step09"), 9);
