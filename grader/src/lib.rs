//! The grader: builds each exercise of each learner's checkout and runs the
//! workshop's own black-box checks (`testkit::checks`) against the binary,
//! then reports a scorecard as a terminal table, JSON and JUnit XML.
//!
//! Untrusted code runs here: `cargo build` runs the learner's `build.rs`
//! and proc macros (as an unprivileged build user, see [`build`]), and the
//! checks run the learner's binaries as root. Grade in the lab VM, never on
//! a machine you care about. Within that, a broken or hostile crate cannot
//! stop the run:
//! builds and checks have time limits, everything runs under a pids limit
//! (a cgroup of the grader's own), processes left behind are killed, and
//! mounts left on the host are reported and detached.

pub mod build;
pub mod hints;
pub mod progress;
pub mod reach;
pub mod report;
pub mod run;

use serde::{Deserialize, Serialize};

/// The exercises the grader knows: package name and chapter.
pub const EXERCISES: [(&str, u8); 10] = [
    ("ex01", 1),
    ("ex02", 2),
    ("ex03", 3),
    ("ex04", 4),
    ("ex05", 5),
    ("ex06", 6),
    ("ex07", 7),
    ("ex08", 8),
    ("ex09", 9),
    ("ex10", 10),
];

/// Version of the scorecard's JSON format (`grader/scorecard.schema.json`).
/// 2 added each learner's `build`; 3 the status `refused` and each
/// exercise's `hints_used` and `hints_total`.
pub const FORMAT_VERSION: u32 = 3;

/// The whole grading run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Scorecard {
    pub format_version: u32,
    pub learners: Vec<Learner>,
}

/// One learner's checkout and the result of each exercise.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Learner {
    /// The checkout's directory name.
    pub name: String,
    pub path: String,
    /// How their checkout was built.
    pub build: BuildInfo,
    pub exercises: Vec<Exercise>,
}

/// How one learner's checkout was built: by whom, how long it took, and
/// whether it shared the class's dependency build.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BuildInfo {
    /// The unprivileged user `cargo build` ran as.
    pub user: String,
    /// The first 16 hex digits of the SHA-256 of the checkout's Cargo.lock
    /// (`none` without one).
    pub lockfile: String,
    pub dependencies: Dependencies,
    /// The one `cargo build` for all of the learner's exercises.
    pub seconds: f64,
    /// Crates cargo compiled for this learner (0 when nothing changed since
    /// the last grading with the same `--target-dir`).
    pub crates_compiled: usize,
    /// Crates taken as already built (the class's dependencies, or an
    /// earlier grading).
    pub crates_reused: usize,
}

/// Whether a learner's dependencies came from the class's build.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Dependencies {
    /// Their Cargo.lock is the class's (the one most checkouts have):
    /// built once for everyone.
    Shared,
    /// Their Cargo.lock differs: what it changes was built for them alone.
    Apart,
}

/// How an exercise went.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Built, and every check passed.
    Passed,
    /// Built, and at least one check failed.
    Failed,
    /// `cargo build` failed or ran out of time.
    DidNotBuild,
    /// Built, but it compiles the answer instead of the learner's own
    /// module (see [`reach`]): no check runs, it scores zero.
    Refused,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::DidNotBuild => "did not build",
            Status::Refused => "refused",
        }
    }
}

/// One exercise of one learner.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Exercise {
    /// `ex01`.
    pub exercise: String,
    pub chapter: u8,
    pub status: Status,
    pub checks_passed: usize,
    pub checks_total: usize,
    /// The first failing check, in words (or why it did not build).
    pub first_failure: Option<String>,
    /// The build's first error line and a tail of its output.
    pub build_log: Option<String>,
    pub checks: Vec<CheckResult>,
    pub seconds: f64,
    /// Hints the learner revealed with `grader hint` (their checkout's
    /// `exercises/hints-used.txt`), and how many the exercise has.
    pub hints_used: usize,
    pub hints_total: usize,
}

/// One check of one exercise.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    /// `uts::hostname_inside`.
    pub name: String,
    pub passed: bool,
    /// Why it failed: the check's own words (and a panic's message), never
    /// a backtrace; may run over several lines (the table shows the first).
    pub message: Option<String>,
    pub seconds: f64,
}
