//! `grader`: grades learners' checkouts of the workshop.
//!
//! ```text
//! cargo run -p grader -- [--json FILE] [--junit FILE] [--only ex01,ex02] PATH...
//! ```
//!
//! Each PATH is a learner's checkout of this repository, or a directory of
//! checkouts. For each checkout and exercise it runs `cargo build -p exNN`
//! (own target dir per checkout, a time limit), runs the checks of chapters
//! 1 to N against the binary (each with a time limit), and prints a
//! scorecard. A learner grades their own work with `cargo run -p grader -- .`.
//!
//! WARNING: building runs the learner's `build.rs` and proc macros as the
//! user running the grader, and the checks run their binaries as root.
//! Grade in the lab VM, not on a machine you care about.
//!
//! Exit status: 0 when every exercise passed, 1 when any did not, 2 when
//! the grading itself could not run.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use grader::{Status, report, run};

/// Builds each exercise of each learner's checkout, runs the workshop's
/// checks against it, and prints a scorecard (also as JSON and JUnit XML).
/// Runs untrusted code: use the lab VM.
#[derive(Parser, Debug)]
#[command(name = "grader", version)]
struct Args {
    /// Write the scorecard as JSON here (format: grader/scorecard.schema.json).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the scorecard as JUnit XML here (for CI and GitHub Classroom).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Grade only these exercises (comma-separated), e.g. --only ex01,ex02.
    #[arg(long, value_delimiter = ',', value_name = "EXERCISES")]
    only: Vec<String>,
    /// Seconds one `cargo build` may take.
    #[arg(long, default_value_t = 900, value_name = "SECS")]
    build_timeout: u64,
    /// Seconds one check may take.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    check_timeout: u64,
    /// Most processes (and threads) the grading run may have at once: a
    /// learner's fork bomb stops here.
    #[arg(long, default_value_t = 2048, value_name = "N")]
    pids: u64,
    /// Build into DIR/<learner> (default: a temporary directory, removed
    /// at the end).
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
    /// A learner's checkout, or a directory of checkouts.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

fn main() {
    let args = Args::parse();
    match grade(args) {
        Ok(true) => std::process::exit(0),
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("grader: {e:#}");
            std::process::exit(2);
        }
    }
}

fn grade(args: Args) -> anyhow::Result<bool> {
    for name in &args.only {
        if !grader::EXERCISES.iter().any(|(e, _)| e == name) {
            anyhow::bail!(
                "--only {name}: no such exercise (known: {})",
                grader::EXERCISES.map(|(e, _)| e).join(", ")
            );
        }
    }
    if let Err(why) = testkit::run::require_root() {
        anyhow::bail!("the checks need root: {why}");
    }
    let checkouts = run::find_checkouts(&args.paths)?;
    let temp = tempfile::Builder::new().prefix("grader-").tempdir()?;
    let opts = run::Options {
        only: args.only.clone(),
        target_base: args
            .target_dir
            .clone()
            .unwrap_or_else(|| temp.path().to_owned()),
        build_limit: Duration::from_secs(args.build_timeout),
        check_limit: Duration::from_secs(args.check_timeout),
        progress: true,
    };
    let limit = match run::PidsLimit::enter(args.pids) {
        Ok(limit) => Some(limit),
        Err(e) => {
            eprintln!("grader: warning: no pids limit for this run: {e:#}");
            None
        }
    };
    let card = run::grade_all(&checkouts, &opts);
    drop(limit);

    print!("{}", report::table(&card));
    if let Some(path) = &args.json {
        std::fs::write(path, report::json(&card))?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&card))?;
    }
    Ok(card
        .learners
        .iter()
        .flat_map(|l| &l.exercises)
        .all(|e| e.status == Status::Passed))
}
