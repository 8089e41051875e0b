//! `grader`: grades learners' checkouts of the workshop.
//!
//! ```text
//! cargo run -p grader -- [--json FILE] [--junit FILE] [--only ex01,ex02] PATH...
//! ```
//!
//! Each PATH is a learner's checkout of this repository, or a directory of
//! checkouts. Each checkout is built once (`cargo build -p ex01 ... -p ex10`,
//! as an unprivileged user, several learners at a time, the class's
//! dependencies compiled once: see `src/build.rs`), then the checks of
//! chapters 1 to N run against each exercise's binary (each with a time
//! limit), and a scorecard is printed. A learner grades their own work with
//! `cargo run -p grader -- .`, and reads the next hint of an exercise with
//! `cargo run -p grader -- hint ex03` (counted on the scorecard).
//!
//! WARNING: building runs the learners' `build.rs` and proc macros (as the
//! build user, never root), and the checks run their binaries as root.
//! Grade in the lab VM, not on a machine you care about.
//!
//! Exit status: 0 when every exercise passed, 1 when any did not, 2 when
//! the grading itself could not run.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use grader::{Status, progress, report, run};

/// Builds each exercise of each learner's checkout, runs the workshop's
/// checks against it, and prints a scorecard (also as JSON and JUnit XML).
///
/// Untrusted code: building runs the learners' build scripts and proc
/// macros. Builds run as an unprivileged user (--build-user, or the system
/// user contain-rs-grader, created if missing), offline, on a copy of each
/// checkout; no build step runs as root. Only the checks run the learners'
/// binaries as root (each check under its own time limit, each learner's
/// checks in a worker with a private mount namespace, all of them in the
/// grader's pids-limited cgroup), so grade in the lab VM or a throwaway
/// runner.
///
/// Learners are built several at a time and share one build of the class's
/// dependencies (a learner whose Cargo.lock differs is built apart, and the
/// scorecard says so). Keep --target-dir to re-grade: only what changed is
/// rebuilt.
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
    /// Seconds one learner's build (all their exercises) may take.
    #[arg(long, default_value_t = 900, value_name = "SECS")]
    build_timeout: u64,
    /// Seconds one check may take.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    check_timeout: u64,
    /// Most processes (and threads) the grading run may have at once: a
    /// learner's fork bomb stops here.
    #[arg(long, default_value_t = 2048, value_name = "N")]
    pids: u64,
    /// Keep copies, target dirs and the class's dependency build in DIR
    /// (default: a temporary directory, removed at the end). Re-grading
    /// with the same DIR rebuilds only the learners whose code changed.
    /// The build user must be able to reach DIR.
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
    /// Build as this unprivileged user (default: the system user
    /// contain-rs-grader, created if it does not exist).
    #[arg(long, value_name = "USER")]
    build_user: Option<String>,
    /// Learners built at once (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Progress as plain lines even on a terminal (default: a bar on a
    /// terminal, lines otherwise).
    #[arg(long, conflicts_with = "quiet")]
    plain: bool,
    /// No progress on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Internal: run one learner's checks (the grader starts itself so).
    #[arg(long, hide = true, value_name = "SPEC")]
    internal_check_worker: Option<String>,
    /// A learner's checkout, or a directory of checkouts.
    #[arg(required_unless_present = "internal_check_worker", value_name = "PATH")]
    paths: Vec<PathBuf>,
}

fn main() {
    // What the grader runs (cargo, build scripts, the learners' binaries)
    // prints a panic's message, not a backtrace: an instructor reads one
    // line. anyhow reads RUST_LIB_BACKTRACE first.
    // SAFETY: the first thing main does, before any thread exists; nothing
    // reads the environment concurrently.
    unsafe {
        std::env::set_var("RUST_BACKTRACE", "0");
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    // A check that panics fails with its message in the scorecard; the
    // default hook would also print it (and mess up the progress bar).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() != Some(run::CHECK_THREAD) {
            default_hook(info);
        }
    }));
    // `grader hint ex03`: the next hint, as the learner, no root needed.
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("hint") {
        std::process::exit(hint(&argv[2..]));
    }
    let args = Args::parse();
    if let Some(spec) = &args.internal_check_worker {
        if let Err(e) = run::check_worker(spec) {
            eprintln!("grader: check worker: {e:#}");
            std::process::exit(2);
        }
        return;
    }
    match grade(args) {
        Ok(true) => std::process::exit(0),
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("grader: {e:#}");
            std::process::exit(2);
        }
    }
}

/// `grader hint EXERCISE`: prints the exercise's next hint and records it
/// in the checkout the current directory is in. 0, or 2 with one line.
fn hint(args: &[String]) -> i32 {
    let [exercise] = args else {
        eprintln!(
            "grader hint: give one exercise, e.g. `cargo run -p grader -- hint ex03` \
             (got {} arguments)",
            args.len()
        );
        return 2;
    };
    let here = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let Some(checkout) = grader::hints::find_checkout(&here) else {
        eprintln!(
            "grader hint: no {} above {}: run it inside your checkout of the workshop",
            grader::hints::HINTS,
            here.display()
        );
        return 2;
    };
    match grader::hints::reveal(&checkout, exercise) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("grader hint: {e:#}");
            2
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
    if args.jobs == Some(0) {
        anyhow::bail!(
            "--jobs 0: at least one learner must build at a time; leave it out for one per CPU"
        );
    }
    let opts = run::Options {
        only: args.only.clone(),
        target_base: args
            .target_dir
            .clone()
            .unwrap_or_else(|| temp.path().to_owned()),
        build_limit: Duration::from_secs(args.build_timeout),
        check_limit: Duration::from_secs(args.check_timeout),
        jobs: args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }),
        build_user: args.build_user.clone(),
        progress: if args.quiet {
            progress::Mode::Quiet
        } else if args.plain {
            progress::Mode::Lines
        } else {
            progress::Mode::Auto
        },
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
    let card = card?;

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
