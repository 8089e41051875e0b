//! Grading: find the checkouts, build each exercise, run its checks, and
//! keep the machine safe while untrusted code runs.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::{Pid, getpid};

use crate::{CheckResult, EXERCISES, Exercise, Learner, Scorecard, Status};

/// What to grade and how long things may take.
#[derive(Debug, Clone)]
pub struct Options {
    /// Exercise packages to grade (`ex01`...); empty: all.
    pub only: Vec<String>,
    /// Where each checkout's target dir goes (`<dir>/<learner>`).
    pub target_base: PathBuf,
    pub build_limit: Duration,
    pub check_limit: Duration,
    /// Echo progress on stderr.
    pub progress: bool,
}

/// A checkout is a directory with an `exercises/` and a `Cargo.toml`.
pub fn is_checkout(dir: &Path) -> bool {
    dir.join("Cargo.toml").is_file() && dir.join("exercises").is_dir()
}

/// The checkouts named by `paths`: each path is one, or holds several.
pub fn find_checkouts(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for path in paths {
        let path = path
            .canonicalize()
            .map_err(|e| anyhow::anyhow!("{path:?}: {e}"))?;
        if is_checkout(&path) {
            found.push(path);
            continue;
        }
        let mut inside: Vec<PathBuf> = std::fs::read_dir(&path)
            .map_err(|e| anyhow::anyhow!("{path:?}: {e}"))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| is_checkout(p))
            .collect();
        if inside.is_empty() {
            anyhow::bail!(
                "{path:?} is not a checkout of the workshop (no Cargo.toml and exercises/) \
                 and holds none"
            );
        }
        inside.sort();
        found.extend(inside);
    }
    Ok(found)
}

/// Grades every checkout.
pub fn grade_all(checkouts: &[PathBuf], opts: &Options) -> Scorecard {
    let learners = checkouts.iter().map(|c| grade_learner(c, opts)).collect();
    Scorecard {
        format_version: crate::FORMAT_VERSION,
        learners,
    }
}

fn grade_learner(checkout: &Path, opts: &Options) -> Learner {
    let name = checkout
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| checkout.display().to_string());
    let target = opts.target_base.join(&name);
    let mut exercises = Vec::new();
    for (package, chapter) in EXERCISES {
        if !opts.only.is_empty() && !opts.only.iter().any(|o| o == package) {
            continue;
        }
        if opts.progress {
            eprintln!("grader: {name} {package}: building");
        }
        exercises.push(grade_exercise(checkout, &target, package, chapter, opts));
    }
    Learner {
        name,
        path: checkout.display().to_string(),
        exercises,
    }
}

fn grade_exercise(
    checkout: &Path,
    target: &Path,
    package: &str,
    chapter: u8,
    opts: &Options,
) -> Exercise {
    let started = Instant::now();
    let mut result = Exercise {
        exercise: package.to_owned(),
        chapter,
        status: Status::DidNotBuild,
        checks_passed: 0,
        checks_total: 0,
        first_failure: None,
        build_log: None,
        checks: Vec::new(),
        seconds: 0.0,
    };
    let bin = match build(checkout, target, package, opts.build_limit) {
        Ok(bin) => bin,
        Err((why, log)) => {
            result.first_failure = Some(why);
            result.build_log = Some(log);
            result.seconds = started.elapsed().as_secs_f64();
            return result;
        }
    };
    let checks = testkit::checks::for_step(chapter);
    result.checks_total = checks.len();
    let target = testkit::Target::new(&bin, chapter);
    let mounts_before = testkit::host::mounts();
    for check in checks {
        if opts.progress {
            eprintln!("grader:   {}", check.name);
        }
        let t0 = Instant::now();
        let outcome = match &target {
            Ok(t) => run_check(check.run, t, opts.check_limit),
            Err(e) => Err(format!("cannot prepare the test rootfs: {e:#}")),
        };
        kill_leftovers();
        let (passed, message) = match outcome {
            Ok(()) => (true, None),
            Err(why) => (false, Some(why)),
        };
        if !passed && result.first_failure.is_none() {
            result.first_failure = Some(format!(
                "{}: {}",
                check.name,
                message.as_deref().unwrap_or("")
            ));
        }
        result.checks_passed += usize::from(passed);
        result.checks.push(CheckResult {
            name: check.name.to_owned(),
            passed,
            message,
            seconds: t0.elapsed().as_secs_f64(),
        });
    }
    let left = detach_new_mounts(&mounts_before);
    if !left.is_empty() {
        let why = format!(
            "left mounts on the host (detached by the grader): {}",
            left.join(", ")
        );
        result.checks_total += 1;
        result.checks.push(CheckResult {
            name: "grader::no_mounts_left".into(),
            passed: false,
            message: Some(why.clone()),
            seconds: 0.0,
        });
        result
            .first_failure
            .get_or_insert(format!("grader::no_mounts_left: {why}"));
    }
    result.status = if result.checks_passed == result.checks_total {
        Status::Passed
    } else {
        Status::Failed
    };
    result.seconds = started.elapsed().as_secs_f64();
    result
}

/// `cargo build -p <package>` in the checkout, into its own target dir,
/// within `limit`. The binary, or (the first error line, the log's tail).
fn build(
    checkout: &Path,
    target: &Path,
    package: &str,
    limit: Duration,
) -> Result<PathBuf, (String, String)> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args([
        "build", "--quiet", "--color", "never", "-p", package, "--bin", package,
    ])
    .current_dir(checkout)
    .env("CARGO_TARGET_DIR", target)
    .env_remove("RUSTFLAGS")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    // Its own process group, so that a timeout kills rustc and build
    // scripts too.
    .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| (format!("cannot run cargo: {e}"), String::new()))?;
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let mut stdout = child.stdout.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
                let _ = child.wait();
                break None;
            }
        }
    };
    let log = reader.join().unwrap_or_default();
    let _ = out_reader.join();
    let tail = tail(&log, 40);
    match status {
        None => Err((
            format!("the build did not finish within {} s", limit.as_secs()),
            tail,
        )),
        Some(s) if !s.success() => {
            let first = log
                .lines()
                .find(|l| l.starts_with("error"))
                .unwrap_or("cargo build failed")
                .to_owned();
            Err((first, tail))
        }
        Some(_) => {
            let bin = target.join("debug").join(package);
            if bin.is_file() {
                Ok(bin)
            } else {
                Err((format!("the build made no binary at {bin:?}"), tail))
            }
        }
    }
}

fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs one check on a thread; a check that does not return within `limit`
/// fails (its thread is left behind, its processes killed).
fn run_check(
    check: fn(&testkit::Target) -> Result<(), String>,
    target: &testkit::Target,
    limit: Duration,
) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let target = target.clone();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(|| check(&target))
            .unwrap_or_else(|_| Err("the check itself panicked".into()));
        let _ = tx.send(result);
    });
    rx.recv_timeout(limit).unwrap_or_else(|_| {
        Err(format!(
            "did not finish within {} s (the grader killed it)",
            limit.as_secs()
        ))
    })
}

/// SIGKILLs every process below the grader: whatever a check's run left.
pub fn kill_leftovers() {
    fn descendants(pid: u32, into: &mut Vec<u32>) {
        for child in testkit::host::children_of(pid) {
            into.push(child);
            descendants(child, into);
        }
    }
    for _ in 0..3 {
        let mut all = Vec::new();
        descendants(getpid().as_raw() as u32, &mut all);
        if all.is_empty() {
            return;
        }
        for pid in all {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Detaches the mounts that appeared since `before` (newest first) and
/// names them.
fn detach_new_mounts(before: &BTreeSet<String>) -> Vec<String> {
    let now = testkit::host::mounts();
    let mut new: Vec<String> = now.difference(before).cloned().collect();
    new.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for entry in &new {
        if let Some(point) = entry.split(' ').next() {
            let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    new
}

/// The grader's own cgroup with a pids limit: the grader moves itself in, so
/// everything it starts (cargo, build scripts, the learners' binaries) is
/// counted. Dropping it moves the grader back and removes the cgroup.
pub struct PidsLimit {
    cgroup: Option<step05::cgroup::Cgroup>,
    /// `(hierarchy root, the cgroup the grader was in)`, to move back.
    home: Vec<(PathBuf, PathBuf)>,
}

impl PidsLimit {
    /// Creates `contain-rs-workshop/grader-<pid>` with `pids.max = max`.
    pub fn enter(max: u64) -> anyhow::Result<PidsLimit> {
        use step05::cgroup::{Cgroup, DEFAULT_ROOT, LimitsOpt};
        let limits = LimitsOpt {
            pids: Some(max),
            ..LimitsOpt::default()
        };
        let id = format!("grader-{}", std::process::id());
        let cgroup = Cgroup::create(Path::new(DEFAULT_ROOT), &id, &limits)?;
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let home = cgroup
            .paths()
            .iter()
            .filter_map(|leaf| {
                let hierarchy = leaf.parent()?.parent()?.to_owned();
                Some((hierarchy.clone(), home_in(&hierarchy, &own)))
            })
            .collect();
        cgroup.add_task(getpid())?;
        Ok(PidsLimit {
            cgroup: Some(cgroup),
            home,
        })
    }
}

/// Where `/proc/self/cgroup` (`own`) says this process is in `hierarchy`.
fn home_in(hierarchy: &Path, own: &str) -> PathBuf {
    let name = hierarchy
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let is_root = hierarchy == Path::new(step05::cgroup::DEFAULT_ROOT);
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next(), parts.next());
        let (Some(controllers), Some(path)) = (controllers, path) else {
            continue;
        };
        let matches = if is_root {
            controllers.is_empty()
        } else {
            controllers == name
        };
        if matches {
            return hierarchy.join(path.trim_start_matches('/'));
        }
    }
    hierarchy.to_owned()
}

impl Drop for PidsLimit {
    fn drop(&mut self) {
        kill_leftovers();
        for (hierarchy, home) in &self.home {
            let me = getpid().to_string();
            if std::fs::write(home.join("cgroup.procs"), &me).is_err() {
                let _ = std::fs::write(hierarchy.join("cgroup.procs"), &me);
            }
        }
        if let Some(cgroup) = self.cgroup.take() {
            if let Err(e) = cgroup.remove() {
                eprintln!("grader: warning: could not remove its cgroup: {e}");
            }
        }
    }
}
