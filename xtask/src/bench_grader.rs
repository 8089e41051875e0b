//! `cargo xtask bench-grader`: grades a synthetic class of 30 from cold
//! and checks every scorecard (issue 20).
//!
//! The class, copies of this repository (no `target/`, no `.git`):
//!
//! | learners | what | should score |
//! |---|---|---|
//! | `solved-01` .. `solved-09` | the solutions in the exercises' slots | every exercise passed |
//! | `solved-lockfile` | solved, with another anyhow in its Cargo.lock | every exercise passed; dependencies built apart |
//! | `starter-01` .. `starter-09` | the exercises as shipped | every exercise failed |
//! | `hole-1` .. `hole-10` | solved, but one hole (exercise 1..10, in turn) back to its `todo!()` | that exercise failed, the rest passed |
//! | `no-compile` | a syntax error in `steps/workshop` | no exercise built |
//!
//! "From cold": a new `--target-dir` (no dependency cache, no target
//! directories). The crates are already downloaded (`cargo fetch` finds
//! them), as they are on a lab VM that built the workshop once.
//!
//! It prints the wall time, when the first learner was graded, the time
//! per learner after the first ((wall - first) / 29), and the build
//! figures from the scorecard, against the targets of the issue: the class
//! in under 15 minutes, each learner after the first in under 20 seconds.
//! It fails when a scorecard is not what the class was built to score, or
//! when a target is missed. The machine's load average is printed with the
//! figures: other work on the machine slows the cold build.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

#[derive(clap::Args)]
pub struct Args {
    /// Keep the class, the scorecard and the grader's work here instead
    /// of a temporary directory under /var/tmp.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Learners built at once (the grader's --jobs; default: its own).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
}

/// The whole class in under this.
const CLASS_TARGET: Duration = Duration::from_secs(15 * 60);
/// Each learner after the first in under this.
const LEARNER_TARGET: Duration = Duration::from_secs(20);

/// How many exercises the class has.
const EXERCISES: usize = 10;

/// The holes of each exercise: the files the learner writes.
const HOLES: [(&str, &[(&str, &str)]); EXERCISES] = [
    (
        "ex01-uts",
        &[("src/uts.rs", "solutions/ex01-uts/src/uts.rs")],
    ),
    ("ex02-pid", &[("src/init.rs", "steps/step02/src/init.rs")]),
    (
        "ex03-mount",
        &[("src/pivot.rs", "steps/step03/src/pivot.rs")],
    ),
    // Exercise 4's solution compiles step04's own `wire.rs`.
    ("ex04-net", &[("src/wire.rs", "steps/step04/src/wire.rs")]),
    // Exercise 5's solution compiles step05's own leaf.rs, as 9's does.
    (
        "ex05-cgroup",
        &[("src/leaf.rs", "steps/step05/src/leaf.rs")],
    ),
    // Exercise 6's solution compiles step06's own `privileges.rs` and `dev.rs`.
    (
        "ex06-caps",
        &[
            ("src/privileges.rs", "steps/step06/src/privileges.rs"),
            ("src/dev.rs", "steps/step06/src/dev.rs"),
        ],
    ),
    (
        "ex07-seccomp",
        &[("src/filter.rs", "steps/step07/src/filter.rs")],
    ),
    (
        "ex08-images",
        &[
            ("src/overlay.rs", "solutions/ex08-images/src/overlay.rs"),
            ("src/whiteout.rs", "solutions/ex08-images/src/whiteout.rs"),
        ],
    ),
    // Exercise 9's solution compiles step09's own module: a copy of it is
    // what a learner who wrote the same would have.
    (
        "ex09-userns",
        &[("src/userns.rs", "steps/step09/src/userns.rs")],
    ),
    // Exercise 10's solution compiles step10's own lifecycle.rs.
    (
        "ex10-oci",
        &[("src/lifecycle.rs", "steps/step10/src/lifecycle.rs")],
    ),
];

/// What a learner should score.
#[derive(Debug, Clone)]
struct Expected {
    name: String,
    /// Per exercise, in order: "passed", "failed" or "did_not_build".
    statuses: [&'static str; EXERCISES],
    dependencies: &'static str,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Err(why) = testkit::run::require_root() {
        bail!("bench-grader runs the grader, which {why}");
    }
    let root = crate::workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench-grader: building the grader");
    let status = Command::new(&cargo)
        .args(["build", "--quiet", "-p", "grader"])
        .current_dir(&root)
        .status()
        .context("running cargo build -p grader")?;
    if !status.success() {
        bail!("cargo build -p grader failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let grader = target.join("debug/grader");

    let temp;
    let dir = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            dir.canonicalize()?
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("bench-grader-")
                .tempdir_in("/var/tmp")?;
            temp.path().to_owned()
        }
    };
    let (class, work, card) = (dir.join("class"), dir.join("work"), dir.join("card.json"));
    if class.exists() || work.exists() {
        bail!("{dir:?} already holds a class or a work dir; give --keep an empty directory");
    }
    eprintln!("bench-grader: making a class of 30 in {class:?}");
    let expected = make_class(&root, &class)?;

    let load_before = loadavg();
    let mut cmd = Command::new(&grader);
    cmd.args(["--plain", "--json"])
        .arg(&card)
        .arg("--target-dir")
        .arg(&work)
        .arg(&class)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(jobs) = args.jobs {
        cmd.args(["--jobs", &jobs.to_string()]);
    }
    eprintln!("bench-grader: grading from cold: {cmd:?}");
    let started = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("running {grader:?}"))?;
    let stderr = child.stderr.take().expect("piped");
    let watcher = std::thread::spawn(move || {
        let mut graded = Vec::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let at = started.elapsed();
            if line.starts_with("grader: [") {
                graded.push(at);
            }
            eprintln!("[{:>6.1} s] {line}", at.as_secs_f64());
        }
        graded
    });
    let out = child.wait_with_output()?;
    let wall = started.elapsed();
    let graded = watcher.join().unwrap_or_default();
    let load_after = loadavg();
    let table = String::from_utf8_lossy(&out.stdout);
    println!("{table}");
    if out.status.code() != Some(1) {
        bail!(
            "the grader exited with {:?}, expected 1 (the class has failures)",
            out.status.code()
        );
    }

    let card: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&card).with_context(|| format!("reading {card:?}"))?,
    )?;
    let wrong = compare(&card, &expected);
    let learners = card["learners"].as_array().map_or(0, Vec::len);
    let first = graded.first().copied().unwrap_or(wall);
    let per_learner = wall.saturating_sub(first) / (learners.max(2) as u32 - 1);
    let builds: Vec<f64> = card["learners"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["build"]["seconds"].as_f64())
        .collect();
    let leader = builds.iter().copied().fold(0.0, f64::max);
    let mut others: Vec<f64> = builds.clone();
    others.sort_by(f64::total_cmp);
    others.pop();
    let median = others.get(others.len() / 2).copied().unwrap_or(0.0);
    let checks: f64 = card["learners"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["exercises"].as_array().into_iter().flatten())
        .filter_map(|e| e["seconds"].as_f64())
        .sum();
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!("bench-grader: a class of {learners}, graded from cold with {grader:?}");
    println!(
        "  wall time                      {:>7.1} s   target < {} s: {}",
        wall.as_secs_f64(),
        CLASS_TARGET.as_secs(),
        verdict(wall < CLASS_TARGET)
    );
    println!(
        "  first learner graded at        {:>7.1} s   (the class's dependencies built cold)",
        first.as_secs_f64()
    );
    println!(
        "  per learner after the first    {:>7.1} s   target < {} s: {}",
        per_learner.as_secs_f64(),
        LEARNER_TARGET.as_secs(),
        verdict(per_learner < LEARNER_TARGET)
    );
    println!("  the cold build (longest)       {leader:>7.1} s");
    println!("  the other builds, median       {median:>7.1} s   (several at a time)");
    println!("  all checks (summed)            {checks:>7.1} s");
    println!("  load average before / after    {load_before} / {load_after}");
    if wrong.is_empty() {
        println!("  scorecards                     all {learners} as the class was built to score");
    } else {
        println!("  scorecards                     {} WRONG:", wrong.len());
        for w in &wrong {
            println!("    {w}");
        }
    }
    if args.keep.is_none() {
        eprintln!("bench-grader: removing {dir:?}");
    }
    if !wrong.is_empty() {
        bail!(
            "{} scorecards are not what the class was built to score",
            wrong.len()
        );
    }
    if wall >= CLASS_TARGET || per_learner >= LEARNER_TARGET {
        bail!("a target was missed (see above)");
    }
    Ok(())
}

/// The 30 checkouts, and what each should score.
fn make_class(root: &Path, class: &Path) -> anyhow::Result<Vec<Expected>> {
    let mut expected = Vec::new();
    let solved = ["passed"; EXERCISES];
    let mut make = |name: &str, solve: &[usize], statuses: [&'static str; EXERCISES], deps| {
        let dir = class.join(name);
        copy_checkout(root, &dir)?;
        for &i in solve {
            let (ex, files) = HOLES[i];
            for (file, source) in files {
                std::fs::copy(root.join(source), dir.join("exercises").join(ex).join(file))
                    .with_context(|| format!("solving {ex} in {dir:?}"))?;
            }
        }
        expected.push(Expected {
            name: name.to_owned(),
            statuses,
            dependencies: deps,
        });
        anyhow::Ok(dir)
    };
    let all: Vec<usize> = (0..EXERCISES).collect();
    for n in 1..=9 {
        make(&format!("solved-{n:02}"), &all, solved, "shared")?;
    }
    let apart = make("solved-lockfile", &all, solved, "apart")?;
    for n in 1..=9 {
        make(
            &format!("starter-{n:02}"),
            &[],
            ["failed"; EXERCISES],
            "shared",
        )?;
    }
    for n in 1..=10 {
        let hole = (n - 1) % EXERCISES;
        let mut statuses = solved;
        statuses[hole] = "failed";
        let rest: Vec<usize> = all.iter().copied().filter(|&i| i != hole).collect();
        make(&format!("hole-{n}"), &rest, statuses, "shared")?;
    }
    let broken = make("no-compile", &all, ["did_not_build"; EXERCISES], "shared")?;
    let lib = broken.join("steps/workshop/src/lib.rs");
    let mut text = std::fs::read_to_string(&lib)?;
    text.push_str("\nfn no_closing_brace( {\n");
    std::fs::write(&lib, text)?;

    // Another anyhow in one Cargo.lock (one the registry cache holds, so
    // that this works offline too).
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let update = Command::new(&cargo)
        .args([
            "update",
            "--quiet",
            "--offline",
            "-p",
            "anyhow",
            "--precise",
            "1.0.103",
        ])
        .current_dir(&apart)
        .output()?;
    if !update.status.success() {
        bail!(
            "cargo update -p anyhow --precise 1.0.103 in {apart:?} failed: {}",
            String::from_utf8_lossy(&update.stderr).trim()
        );
    }
    Ok(expected)
}

/// A learner's clone: the repository without `target/` and `.git`.
fn copy_checkout(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_checkout(&src, &dst)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else {
            std::fs::copy(&src, &dst).with_context(|| format!("cp {src:?} {dst:?}"))?;
        }
    }
    Ok(())
}

/// Every way the scorecard differs from what the class should score.
fn compare(card: &serde_json::Value, expected: &[Expected]) -> Vec<String> {
    let mut wrong = Vec::new();
    let learners = card["learners"].as_array().cloned().unwrap_or_default();
    if learners.len() != expected.len() {
        wrong.push(format!(
            "{} learners on the scorecard, {} in the class",
            learners.len(),
            expected.len()
        ));
    }
    for want in expected {
        let Some(got) = learners.iter().find(|l| l["name"] == want.name.as_str()) else {
            wrong.push(format!("{}: not on the scorecard", want.name));
            continue;
        };
        let statuses: Vec<&str> = got["exercises"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["status"].as_str().unwrap_or("?"))
            .collect();
        if statuses != want.statuses {
            wrong.push(format!(
                "{}: {statuses:?}, expected {:?}",
                want.name, want.statuses
            ));
        }
        if got["build"]["dependencies"] != want.dependencies {
            wrong.push(format!(
                "{}: dependencies {}, expected {}",
                want.name, got["build"]["dependencies"], want.dependencies
            ));
        }
    }
    wrong
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| {
            let f: Vec<&str> = l.split_whitespace().take(3).collect();
            (f.len() == 3).then(|| f.join(" "))
        })
        .unwrap_or_else(|| "?".to_owned())
}
