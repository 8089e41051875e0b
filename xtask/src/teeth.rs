//! `cargo xtask teeth`: proves that the exercises' tests have teeth, in both
//! directions (rustlings' maintainer check). For every exercise crate in
//! `exercises/` (package `exNN`) and its mirror in `solutions/` (package
//! `exNN-solution`):
//!
//! - the exercise as shipped builds and is clippy-clean, and its tests FAIL
//!   (if they passed, the `todo!()`s would test nothing);
//! - the solution's tests PASS, and it is rustfmt- and clippy-clean.
//!
//! Prints one row per exercise and fails if any row is wrong. The tests of
//! both run as root (the black-box checks need it), like every step's.
//!
//! Then teeth per hole ([`crate::holes`]): each `todo!()` of each starter,
//! replaced in the solution by a wrong body (the exercise's
//! `mutants.toml`), must fail a check. One table row per mutant.
//!
//! `--ci` (the `teeth` phase of `cargo xtask test`) leaves out what other
//! phases of the same run prove: the solutions' full test run (`tests`:
//! `cargo test --workspace` runs every `exNN-solution`), their clippy
//! (`clippy --workspace`) and rustfmt (`fmt`). The mutants still run each
//! `caught_by` test unmutated first, so none is "caught" by a solution that
//! fails anyway. `cargo xtask teeth` alone does everything.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// One exercise and what the check found.
struct Row {
    package: String,
    /// `cargo test -p exNN`: (passed, failed) test counts, or why it did not run.
    starter: Result<(usize, usize), String>,
    /// `cargo test -p exNN-solution` (None: left to the `tests` phase).
    solution: Option<Result<(usize, usize), String>>,
    /// Files of the solution that rustfmt would change.
    unformatted: Vec<String>,
    /// `cargo clippy` on both, `-D warnings` (None: left to the `clippy` phase).
    clippy: Option<Result<(), String>>,
    took: Duration,
}

impl Row {
    fn starter_fails(&self) -> bool {
        matches!(self.starter, Ok((_, failed)) if failed > 0)
    }

    fn solution_passes(&self) -> bool {
        match &self.solution {
            None => true,
            Some(result) => matches!(result, Ok((passed, 0)) if *passed > 0),
        }
    }

    fn ok(&self) -> bool {
        self.starter_fails()
            && self.solution_passes()
            && self.unformatted.is_empty()
            && !matches!(self.clippy, Some(Err(_)))
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Only these exercises (package `ex03` or directory `ex03-mount`; all when none).
    exercises: Vec<String>,
    /// CI's run: skip what the `tests`, `clippy` and `fmt` phases prove (the
    /// solutions' full test run, clippy, rustfmt); starters and mutants still run.
    #[arg(long)]
    ci: bool,
    /// Only the per-hole mutants (no starter, solution, clippy or rustfmt row).
    #[arg(long, conflicts_with = "ci")]
    holes_only: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    // First of all: a mutant a killed run left in a file is undone, and
    // from now on Ctrl-C stops a mutant's test and restores its file.
    let backups = crate::holes::Backups::new(&root);
    let _lock = backups.lock()?;
    for file in backups.restore_leftovers()? {
        eprintln!("teeth: restored {file} from the backup a killed run left");
    }
    crate::holes::catch_interrupts()?;
    let mut packages = exercise_packages(&root)?;
    if packages.is_empty() {
        bail!("no exercise crates under {:?}", root.join("exercises"));
    }
    if !args.exercises.is_empty() {
        for wanted in &args.exercises {
            if !packages.iter().any(|(p, d)| p == wanted || d == wanted) {
                bail!("no exercise {wanted} under exercises/");
            }
        }
        packages.retain(|(p, d)| args.exercises.iter().any(|w| w == p || w == d));
    }
    let started = Instant::now();
    let mut rows = Vec::new();
    if !args.holes_only {
        println!(
            "teeth: {} exercises; each starter must fail its tests{}",
            packages.len(),
            if args.ci {
                " (the solutions' own run, clippy and rustfmt: the tests, clippy and fmt phases)"
            } else {
                ", each solution pass them"
            }
        );
    }
    for (package, dir) in packages.iter().filter(|_| !args.holes_only) {
        if crate::holes::interrupted() {
            bail!("teeth: interrupted");
        }
        let (package, dir) = (package.clone(), dir.clone());
        let t0 = Instant::now();
        let solution = format!("{package}-solution");
        eprintln!("teeth: {package} ...");
        if args.ci {
            let starter = starter_counts(&root, &package);
            eprintln!(
                "teeth: {package}: the starter built and tested in {:.1} s",
                t0.elapsed().as_secs_f64()
            );
            rows.push(Row {
                package,
                starter,
                solution: None,
                unformatted: Vec::new(),
                clippy: None,
                took: t0.elapsed(),
            });
            continue;
        }
        let clippy = cargo(
            &root,
            &[
                "clippy",
                "-p",
                &package,
                "-p",
                &solution,
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        )
        .and_then(|out| {
            if out.status.success() {
                Ok(())
            } else {
                Err(first_error(&out))
            }
        });
        let starter = starter_counts(&root, &package);
        let solution_result = test_counts(&root, &solution);
        let unformatted = unformatted_files(&root.join("solutions").join(&dir))?;
        rows.push(Row {
            package,
            starter,
            solution: Some(solution_result),
            unformatted,
            clippy: Some(clippy),
            took: t0.elapsed(),
        });
    }
    if !rows.is_empty() {
        print_table(&rows);
    }
    let bad: Vec<&str> = rows
        .iter()
        .filter(|r| !r.ok())
        .map(|r| r.package.as_str())
        .collect();
    let first_part = started.elapsed();

    println!(
        "\nteeth per hole: each todo!() of a starter, replaced in the solution by a wrong body, must fail a check"
    );
    let holes_started = Instant::now();
    let mut hole_rows = Vec::new();
    for (package, dir) in &packages {
        hole_rows.extend(crate::holes::check_exercise(&root, dir, package)?);
    }
    let holes_ok = crate::holes::print_table(&hole_rows);
    let mutants: Vec<_> = hole_rows
        .iter()
        .filter(|r| r.took > Duration::ZERO)
        .map(|r| r.took)
        .collect();
    let bad_holes = hole_rows
        .iter()
        .filter(|r| !matches!(r.outcome, crate::holes::Outcome::Caught))
        .count();
    if !mutants.is_empty() {
        let total: Duration = mutants.iter().sum();
        println!(
            "teeth: {} mutants in {:.0?}, {:.1} s each on average (an incremental build and one test)",
            mutants.len(),
            total,
            total.as_secs_f64() / mutants.len() as f64
        );
    }
    if !args.holes_only {
        println!(
            "teeth: starters{} {:.0?}",
            if args.ci { "" } else { " and solutions" },
            first_part
        );
    }
    println!(
        "teeth: per hole {:.0?}; {:.0?} in all",
        holes_started.elapsed(),
        started.elapsed()
    );
    match (bad.is_empty(), holes_ok) {
        (true, true) => {
            println!("teeth: every starter fails, every solution passes, every hole has teeth");
            Ok(())
        }
        _ => {
            let mut wrong = Vec::new();
            if !bad.is_empty() {
                wrong.push(format!("wrong for {}", bad.join(", ")));
            }
            if !holes_ok {
                wrong.push(format!("{bad_holes} per-hole row(s) failed"));
            }
            bail!("teeth: {}", wrong.join("; "))
        }
    }
}

/// The starter's tests, which must fail. Built first, so that "the
/// starter fails" can never mean "the starter does not compile".
fn starter_counts(root: &Path, package: &str) -> Result<(usize, usize), String> {
    cargo(root, &["test", "-p", package, "--no-run"]).and_then(|out| {
        if out.status.success() {
            test_counts(root, package)
        } else {
            Err(format!("does not build: {}", first_error(&out)))
        }
    })
}

/// `(package name, directory name)` of every crate in `exercises/`, sorted.
fn exercise_packages(root: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let dir = root.join("exercises");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {dir:?}"))? {
        let entry = entry?;
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let name = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = "))
            .map(|n| n.trim_matches('"').to_owned())
            .with_context(|| format!("no package name in {manifest:?}"))?;
        found.push((name, entry.file_name().to_string_lossy().into_owned()));
    }
    found.sort();
    Ok(found)
}

fn cargo(root: &Path, args: &[&str]) -> Result<Output, String> {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))
}

/// Runs a package's tests; `(passed, failed)` summed over its test binaries.
fn test_counts(root: &Path, package: &str) -> Result<(usize, usize), String> {
    let out = cargo(root, &["test", "-p", package, "--no-fail-fast"])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (mut passed, mut failed) = (0, 0);
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("test result: ") else {
            continue;
        };
        // "ok. 44 passed; 0 failed; 0 ignored; ..."
        for part in rest.split(';') {
            let words: Vec<&str> = part.split_whitespace().collect();
            match words.as_slice() {
                [.., n, "passed"] => passed += n.parse::<usize>().unwrap_or(0),
                [n, "failed"] => failed += n.parse::<usize>().unwrap_or(0),
                _ => {}
            }
        }
    }
    if passed + failed == 0 {
        return Err(format!("no test ran: {}", first_error(&out)));
    }
    Ok((passed, failed))
}

/// The first `error` line cargo printed, for the table.
fn first_error(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find(|l| l.starts_with("error"))
        .unwrap_or("(no error line)")
        .to_owned()
}

/// The `.rs` files under `dir` that rustfmt would change, each formatted on
/// its own (through stdin: the step files a solution compiles with
/// `#[path]` belong to the steps, and are checked with them).
fn unformatted_files(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    collect_rs(dir, &mut files)?;
    let mut bad = Vec::new();
    for file in files {
        let text = std::fs::read(&file)?;
        let mut child = Command::new("rustfmt")
            .args(["--edition", "2024", "--emit", "stdout"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("cannot run rustfmt")?;
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().context("rustfmt stdin")?;
            stdin.write_all(&text)?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() || out.stdout != text {
            bad.push(file.display().to_string());
        }
    }
    Ok(bad)
}

/// Every `.rs` file under `dir`, recursively, sorted.
pub(crate) fn collect_rs(dir: &Path, into: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {dir:?}"))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_rs(&path, into)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
    into.sort();
    Ok(())
}

fn print_table(rows: &[Row]) {
    let counts = |r: &Result<(usize, usize), String>| match r {
        Ok((p, f)) => format!("{p} passed, {f} failed"),
        Err(e) => e.clone(),
    };
    println!(
        "{:<8} {:<30} {:<30} {:<10} {:<8} {:>6}",
        "exercise", "starter (must fail)", "solution (must pass)", "rustfmt", "clippy", "time"
    );
    for r in rows {
        let mark = |ok: bool| if ok { "ok  " } else { "FAIL" };
        println!(
            "{:<8} {} {:<25} {} {:<25} {:<10} {:<8} {:>5.0?}",
            r.package,
            mark(r.starter_fails()),
            counts(&r.starter),
            mark(r.solution_passes()),
            match &r.solution {
                Some(s) => counts(s),
                None => "(tests phase)".to_owned(),
            },
            if r.unformatted.is_empty() {
                "ok".to_owned()
            } else {
                format!("FAIL {}", r.unformatted.len())
            },
            match &r.clippy {
                Some(Ok(())) => "ok".to_owned(),
                Some(Err(_)) => "FAIL".to_owned(),
                None => "(phase)".to_owned(),
            },
            r.took
        );
        for file in &r.unformatted {
            println!("         not rustfmt-clean: {file}");
        }
        if let Some(Err(e)) = &r.clippy {
            println!("         clippy: {e}");
        }
    }
}
