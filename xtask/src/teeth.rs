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

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// One exercise and what the check found.
struct Row {
    package: String,
    /// `cargo test -p exNN`: (passed, failed) test counts, or why it did not run.
    starter: Result<(usize, usize), String>,
    /// `cargo test -p exNN-solution`.
    solution: Result<(usize, usize), String>,
    /// Files of the solution that rustfmt would change.
    unformatted: Vec<String>,
    /// `cargo clippy` on both, `-D warnings`.
    clippy: Result<(), String>,
    took: Duration,
}

impl Row {
    fn starter_fails(&self) -> bool {
        matches!(self.starter, Ok((_, failed)) if failed > 0)
    }

    fn solution_passes(&self) -> bool {
        matches!(self.solution, Ok((passed, 0)) if passed > 0)
    }

    fn ok(&self) -> bool {
        self.starter_fails()
            && self.solution_passes()
            && self.unformatted.is_empty()
            && self.clippy.is_ok()
    }
}

pub fn run() -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let packages = exercise_packages(&root)?;
    if packages.is_empty() {
        bail!("no exercise crates under {:?}", root.join("exercises"));
    }
    println!(
        "teeth: {} exercises; each starter must fail its tests, each solution pass them",
        packages.len()
    );
    let started = Instant::now();
    let mut rows = Vec::new();
    for (package, dir) in packages {
        let t0 = Instant::now();
        let solution = format!("{package}-solution");
        eprintln!("teeth: {package} ...");
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
        // Built first, so that "the starter fails" can never mean "the
        // starter does not compile".
        let starter = cargo(&root, &["test", "-p", &package, "--no-run"]).and_then(|out| {
            if out.status.success() {
                test_counts(&root, &package)
            } else {
                Err(format!("does not build: {}", first_error(&out)))
            }
        });
        let solution_result = test_counts(&root, &solution);
        let unformatted = unformatted_files(&root.join("solutions").join(&dir))?;
        rows.push(Row {
            package,
            starter,
            solution: solution_result,
            unformatted,
            clippy,
            took: t0.elapsed(),
        });
    }
    print_table(&rows);
    let bad: Vec<&str> = rows
        .iter()
        .filter(|r| !r.ok())
        .map(|r| r.package.as_str())
        .collect();
    println!("teeth: {:.0?} in all", started.elapsed());
    if bad.is_empty() {
        println!("teeth: every starter fails, every solution passes");
        Ok(())
    } else {
        bail!("teeth: wrong for {}", bad.join(", "))
    }
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

fn collect_rs(dir: &Path, into: &mut Vec<PathBuf>) -> anyhow::Result<()> {
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
            counts(&r.solution),
            if r.unformatted.is_empty() {
                "ok".to_owned()
            } else {
                format!("FAIL {}", r.unformatted.len())
            },
            match &r.clippy {
                Ok(()) => "ok".to_owned(),
                Err(_) => "FAIL".to_owned(),
            },
            r.took
        );
        for file in &r.unformatted {
            println!("         not rustfmt-clean: {file}");
        }
        if let Err(e) = &r.clippy {
            println!("         clippy: {e}");
        }
    }
}
