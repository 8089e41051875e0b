//! Grading: find the checkouts, build them (in parallel, sharing the
//! class's dependencies: see `build.rs`), run each exercise's checks, and
//! keep the machine safe while untrusted code runs.
//!
//! Builds of several learners run at once (up to `--jobs`), and so do the
//! checks of several learners (up to `--jobs`), while the next learners
//! build. Each learner's checks run in a worker process of their own (the
//! grader again, `--internal-check-worker`) in a private mount namespace:
//! the clean-up after each check (kill every process below the worker,
//! detach every mount that appeared) then only ever sees that learner's
//! processes and mounts, as it saw the whole machine's when checks ran one
//! at a time. The checks of one learner still run one after another, each
//! with its time limit, like `cargo test` runs them side by side.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, getpid};

use crate::build::{BuildUser, Builder, Built, RUNNING_BUILDS, lockfile_hash};
use crate::progress::Progress;
use crate::{
    BuildInfo, CheckResult, Dependencies, EXERCISES, Exercise, Learner, Scorecard, Status,
};

/// What to grade and how long things may take.
#[derive(Debug, Clone)]
pub struct Options {
    /// Exercise packages to grade (`ex01`...); empty: all.
    pub only: Vec<String>,
    /// Where copies, target dirs and the shared dependency build go.
    pub target_base: PathBuf,
    /// One learner's `cargo build` (all their exercises at once).
    pub build_limit: Duration,
    pub check_limit: Duration,
    /// Learners built at once.
    pub jobs: usize,
    /// `--build-user`; None: the grader's own system user.
    pub build_user: Option<String>,
    /// Progress on stderr: a bar on a terminal, plain lines otherwise.
    pub progress: crate::progress::Mode,
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

/// One learner on the way through.
struct Pending {
    name: String,
    checkout: PathBuf,
    /// Unique among the class: the name, or `name-2`... for a second
    /// checkout of the same name.
    key: String,
    staged: Option<PathBuf>,
    lockfile: String,
    /// Why it cannot be built at all (copying or fetching failed).
    blocked: Option<String>,
}

/// Grades every checkout: the scorecard, or why grading could not start.
pub fn grade_all(checkouts: &[PathBuf], opts: &Options) -> anyhow::Result<Scorecard> {
    let user = BuildUser::resolve(opts.build_user.as_deref())?;
    let builder = Builder::prepare(&opts.target_base, user)?;
    let packages: Vec<(&str, u8)> = EXERCISES
        .into_iter()
        .filter(|(p, _)| opts.only.is_empty() || opts.only.iter().any(|o| o == p))
        .collect();
    let names: Vec<&str> = packages.iter().map(|(p, _)| *p).collect();
    let progress = Progress::new(opts.progress, checkouts.len());

    // Copy every checkout where the build user can read it.
    let mut keys = BTreeSet::new();
    let mut pending: Vec<Pending> = Vec::new();
    for checkout in checkouts {
        let name = checkout
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "checkout".to_owned());
        let mut key = name.clone();
        for n in 2.. {
            if keys.insert(key.clone()) {
                break;
            }
            key = format!("{name}-{n}");
        }
        progress.status(format!("copying {name}"));
        let (staged, blocked) = match builder.stage(checkout, &key) {
            Ok(dir) => (Some(dir), None),
            Err(e) => (None, Some(format!("cannot copy the checkout: {e:#}"))),
        };
        let lockfile = lockfile_hash(staged.as_deref().unwrap_or(checkout));
        pending.push(Pending {
            name,
            checkout: checkout.clone(),
            key,
            staged,
            lockfile,
            blocked,
        });
    }

    // The class's lockfile is the one most checkouts have.
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &pending {
        *counts.entry(&p.lockfile).or_default() += 1;
    }
    let class_lockfile = pending
        .iter()
        .map(|p| p.lockfile.as_str())
        .max_by_key(|l| (counts[l], std::cmp::Reverse(*l)))
        .unwrap_or("none")
        .to_owned();
    drop(counts);

    // Fetch once per distinct lockfile, as root (no crate's code runs).
    let mut fetched: BTreeMap<String, Result<(), String>> = BTreeMap::new();
    for p in &mut pending {
        let Some(staged) = p.staged.clone() else {
            continue;
        };
        if !fetched.contains_key(&p.lockfile) {
            progress.status(format!("fetching the crates of {}'s Cargo.lock", p.name));
            fetched.insert(p.lockfile.clone(), builder.fetch(&staged, opts.build_limit));
        }
        if let Err(why) = &fetched[&p.lockfile] {
            p.blocked = Some(why.clone());
        }
    }

    // The checks' busybox rootfs, made once before workers use it.
    if let Err(e) = testkit::rootfs::busybox_rootfs() {
        progress.line(format!("warning: no test rootfs: {e:#}"));
    }

    // The first learner with the class's lockfile builds alone (all cores
    // on the dependencies) unless the cache already holds that lockfile's
    // build; the others are built in parallel after it.
    let buildable: Vec<usize> = (0..pending.len())
        .filter(|&i| pending[i].blocked.is_none())
        .collect();
    let need_leader = builder.cache_lockfile().as_deref() != Some(class_lockfile.as_str());
    let limit = opts.build_limit;
    let (tx, rx) = mpsc::channel::<(usize, Built)>();
    let mut learners: Vec<Option<Learner>> = vec![None; pending.len()];
    let started = Instant::now();
    std::thread::scope(|scope| {
        let (pending, builder, progress, names, class_lockfile) =
            (&pending, &builder, &progress, &names, &class_lockfile);
        let build = move |i: usize| {
            let p = &pending[i];
            let how = if p.lockfile == *class_lockfile {
                "shared dependencies"
            } else {
                "its own Cargo.lock: dependencies apart"
            };
            progress.status(format!("building {} ({how})", p.name));
            let staged = p.staged.as_deref().expect("buildable learners are staged");
            let built = builder.build(staged, &p.key, names, limit);
            progress.line(format!(
                "{}: built in {:.1} s ({} crates compiled, {} reused)",
                p.name, built.seconds, built.compiled, built.fresh
            ));
            built
        };
        scope.spawn(move || {
            let mut rest: Vec<usize> = buildable.clone();
            if need_leader {
                for &i in &buildable {
                    if pending[i].lockfile != *class_lockfile {
                        continue;
                    }
                    let built = build(i);
                    let harvested = built.compiled + built.fresh > 0;
                    if harvested {
                        progress.status("keeping the class's dependency build".to_owned());
                        if let Err(e) =
                            builder.harvest(&pending[i].key, &built.path_packages, class_lockfile)
                        {
                            progress.line(format!(
                                "warning: the dependency build is not shared: {e:#}"
                            ));
                        }
                        let staged = pending[i].staged.as_deref().expect("built, so staged");
                        if let Err(e) =
                            builder.harvest_support(&pending[i].key, staged, &built.libs, names)
                        {
                            progress.line(format!(
                                "warning: the workshop's crates are not shared: {e:#}"
                            ));
                        }
                    }
                    rest.retain(|&r| r != i);
                    let _ = tx.send((i, built));
                    if harvested {
                        break;
                    }
                }
            }
            let next = AtomicUsize::new(0);
            std::thread::scope(|pool| {
                for _ in 0..opts.jobs.max(1) {
                    let (tx, rest, next) = (tx.clone(), &rest, &next);
                    pool.spawn(move || {
                        loop {
                            let n = next.fetch_add(1, Ordering::SeqCst);
                            let Some(&i) = rest.get(n) else { break };
                            let _ = tx.send((i, build(i)));
                        }
                    });
                }
            });
            drop(tx);
        });

        // The checks, several learners at a time, as builds finish.
        let (done_tx, done_rx) = mpsc::channel::<(usize, Learner)>();
        for (i, p) in pending.iter().enumerate() {
            if let Some(why) = &p.blocked {
                let learner = not_built(
                    p,
                    why,
                    class_lockfile,
                    builder.user.name.as_str(),
                    &packages,
                );
                progress.learner_done(summary(&learner));
                learners[i] = Some(learner);
            }
        }
        let mut running = 0;
        let mut finish = |(j, learner): (usize, Learner)| {
            progress.learner_done(summary(&learner));
            learners[j] = Some(learner);
        };
        for (i, built) in rx.iter() {
            while running >= opts.jobs.max(1) {
                if let Ok(done) = done_rx.recv() {
                    finish(done);
                }
                running -= 1;
            }
            running += 1;
            let (done_tx, packages) = (done_tx.clone(), &packages);
            scope.spawn(move || {
                let learner = check_learner(
                    &pending[i],
                    built,
                    packages,
                    class_lockfile,
                    builder,
                    opts,
                    progress,
                );
                let _ = done_tx.send((i, learner));
            });
        }
        while running > 0 {
            if let Ok(done) = done_rx.recv() {
                finish(done);
            }
            running -= 1;
        }
    });
    if opts.build_user.is_none() {
        // The grader's own build user: nothing of it may outlive the builds.
        crate::build::kill_processes_of(builder.user.uid);
    }
    progress.finish(started.elapsed());
    Ok(Scorecard {
        format_version: crate::FORMAT_VERSION,
        learners: learners.into_iter().flatten().collect(),
    })
}

/// `ada: ex01 passed 9/9, ex02 did not build`.
fn summary(l: &Learner) -> String {
    let cells: Vec<String> = l
        .exercises
        .iter()
        .map(|e| match e.status {
            Status::DidNotBuild => format!("{} did not build", e.exercise),
            Status::Refused => format!("{} refused", e.exercise),
            s => format!(
                "{} {} {}/{}",
                e.exercise,
                s.word(),
                e.checks_passed,
                e.checks_total
            ),
        })
        .collect();
    format!("{}: {}", l.name, cells.join(", "))
}

fn build_info(p: &Pending, class_lockfile: &str, user: &str, built: Option<&Built>) -> BuildInfo {
    BuildInfo {
        user: user.to_owned(),
        lockfile: p.lockfile.clone(),
        dependencies: if p.lockfile == class_lockfile {
            Dependencies::Shared
        } else {
            Dependencies::Apart
        },
        seconds: built.map_or(0.0, |b| b.seconds),
        crates_compiled: built.map_or(0, |b| b.compiled),
        crates_reused: built.map_or(0, |b| b.fresh),
    }
}

/// A learner whose checkout could not even be built: every exercise did
/// not build, for that reason.
fn not_built(
    p: &Pending,
    why: &str,
    class_lockfile: &str,
    user: &str,
    packages: &[(&str, u8)],
) -> Learner {
    with_hints(Learner {
        name: p.name.clone(),
        path: p.checkout.display().to_string(),
        build: build_info(p, class_lockfile, user, None),
        exercises: packages
            .iter()
            .map(|(package, chapter)| Exercise {
                exercise: (*package).to_owned(),
                chapter: *chapter,
                status: Status::DidNotBuild,
                checks_passed: 0,
                checks_total: 0,
                first_failure: Some(why.to_owned()),
                build_log: Some(why.to_owned()),
                checks: Vec::new(),
                seconds: 0.0,
                hints_used: 0,
                hints_total: 0,
            })
            .collect(),
    })
}

/// Fills in each exercise's hints: how many the learner revealed (their
/// `exercises/hints-used.txt`) and how many there are.
fn with_hints(mut learner: Learner) -> Learner {
    let checkout = Path::new(&learner.path);
    let used = crate::hints::used(checkout);
    let totals = crate::hints::load(checkout).unwrap_or_default();
    for e in &mut learner.exercises {
        e.hints_total = totals
            .iter()
            .find(|t| t.name == e.exercise)
            .map_or(0, |t| t.hints.len());
        e.hints_used = used
            .get(&e.exercise)
            .copied()
            .unwrap_or(0)
            .min(e.hints_total);
    }
    learner
}

fn check_learner(
    p: &Pending,
    built: Built,
    packages: &[(&str, u8)],
    class_lockfile: &str,
    builder: &Builder,
    opts: &Options,
    progress: &Progress,
) -> Learner {
    let to_check: Vec<(String, u8, PathBuf)> = packages
        .iter()
        .filter_map(|&(package, chapter)| {
            let bin = built.bins.get(package)?;
            Some((package.to_owned(), chapter, bin.clone()))
        })
        .collect();
    let mut checked = if to_check.is_empty() {
        BTreeMap::new()
    } else {
        progress.status(format!("checking {}", p.name));
        check_in_worker(&p.key, &to_check, builder.base(), opts)
    };
    // The root-owned copies were only for the checks: a class's worth of
    // debug binaries is ~13 GB.
    let _ = std::fs::remove_dir_all(builder.base().join("bin").join(&p.key));
    let exercises = packages
        .iter()
        .map(|&(package, chapter)| {
            if let Some(done) = checked.remove(package) {
                return done;
            }
            if let Some(why) = built.refused.get(package) {
                return Exercise {
                    exercise: package.to_owned(),
                    chapter,
                    status: Status::Refused,
                    checks_passed: 0,
                    checks_total: 0,
                    first_failure: Some(why.clone()),
                    build_log: None,
                    checks: Vec::new(),
                    seconds: 0.0,
                    hints_used: 0,
                    hints_total: 0,
                };
            }
            let (why, log) = match built.failures.get(package) {
                Some(failure) => failure.clone(),
                None if built.bins.contains_key(package) => (
                    "the grader's check worker gave no result".to_owned(),
                    String::new(),
                ),
                None => ("the build made no binary".to_owned(), String::new()),
            };
            if built.bins.contains_key(package) {
                return checks_did_not_run(package, chapter, why);
            }
            Exercise {
                exercise: package.to_owned(),
                chapter,
                status: Status::DidNotBuild,
                checks_passed: 0,
                checks_total: 0,
                first_failure: Some(why),
                build_log: Some(log),
                checks: Vec::new(),
                seconds: 0.0,
                hints_used: 0,
                hints_total: 0,
            }
        })
        .collect();
    with_hints(Learner {
        name: p.name.clone(),
        path: p.checkout.display().to_string(),
        build: build_info(p, class_lockfile, &builder.user.name, Some(&built)),
        exercises,
    })
}

/// What a check worker is asked to do.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct WorkerSpec {
    /// (package, chapter, binary).
    pub exercises: Vec<(String, u8, PathBuf)>,
    pub check_limit_secs: u64,
    /// Where the worker writes its `Vec<Exercise>` as JSON.
    pub out: PathBuf,
}

/// Runs one learner's checks in a worker process (see the module's doc);
/// the exercises it checked, by package.
fn check_in_worker(
    key: &str,
    exercises: &[(String, u8, PathBuf)],
    base: &Path,
    opts: &Options,
) -> BTreeMap<String, Exercise> {
    let dir = base.join("checks");
    let _ = std::fs::create_dir_all(&dir);
    let spec = WorkerSpec {
        exercises: exercises.to_vec(),
        check_limit_secs: opts.check_limit.as_secs(),
        out: dir.join(format!("{key}.json")),
    };
    let _ = std::fs::remove_file(&spec.out);
    let checks: usize = exercises
        .iter()
        .map(|(_, chapter, _)| testkit::checks::for_step(*chapter).len())
        .sum();
    // Every check may take its whole limit; a worker past all of them hangs.
    let limit = opts.check_limit * (checks as u32 + 1);
    let Ok(exe) = std::env::current_exe() else {
        return BTreeMap::new();
    };
    let mut cmd = Command::new(exe);
    cmd.arg("--internal-check-worker")
        .arg(serde_json::to_string(&spec).expect("a spec serializes"));
    let failure = match crate::build::run_limited(cmd, limit, None) {
        Ok((Some(status), _, _)) if status.success() => None,
        Ok((Some(status), _, stderr)) => Some(format!(
            "the check worker failed ({status}): {}",
            stderr.lines().last().unwrap_or("")
        )),
        Ok((None, _, _)) => Some(format!(
            "the checks did not finish within {} s",
            limit.as_secs()
        )),
        Err(e) => Some(format!("cannot start the check worker: {e}")),
    };
    let done: Vec<Exercise> = std::fs::read_to_string(&spec.out)
        .ok()
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default();
    if let (Some(why), true) = (failure, done.len() < exercises.len()) {
        return exercises
            .iter()
            .map(|(package, chapter, _)| {
                let e = done.iter().find(|e| e.exercise == *package).cloned();
                let e = e.unwrap_or_else(|| checks_did_not_run(package, *chapter, why.clone()));
                (package.clone(), e)
            })
            .collect();
    }
    done.into_iter().map(|e| (e.exercise.clone(), e)).collect()
}

/// An exercise that built but whose checks never ran (`why`): one failed
/// pseudo-check, `grader::checks_ran`.
fn checks_did_not_run(package: &str, chapter: u8, why: String) -> Exercise {
    Exercise {
        exercise: package.to_owned(),
        chapter,
        status: Status::Failed,
        checks_passed: 0,
        checks_total: 1,
        first_failure: Some(format!("grader::checks_ran: {why}")),
        build_log: None,
        checks: vec![CheckResult {
            name: "grader::checks_ran".into(),
            passed: false,
            message: Some(why),
            seconds: 0.0,
        }],
        seconds: 0.0,
        hints_used: 0,
        hints_total: 0,
    }
}

/// The worker: a private mount namespace (mounts a learner's runtime
/// leaves stay in it, and vanish with it), then each exercise's checks;
/// writes the results to `spec.out`.
pub fn check_worker(spec: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let spec: WorkerSpec = serde_json::from_str(spec).context("the worker's spec")?;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS)")?;
    step05::mount::make_mounts_private()?;
    let limit = Duration::from_secs(spec.check_limit_secs);
    let mut done = Vec::new();
    for (package, chapter, bin) in &spec.exercises {
        done.push(check_exercise(bin, package, *chapter, limit));
        // Partial results survive a worker killed later.
        std::fs::write(&spec.out, serde_json::to_string(&done)?)?;
    }
    kill_leftovers();
    Ok(())
}

/// Runs the checks of chapters 1 to `chapter` against a built exercise.
fn check_exercise(bin: &Path, package: &str, chapter: u8, check_limit: Duration) -> Exercise {
    let started = Instant::now();
    let mut result = Exercise {
        exercise: package.to_owned(),
        chapter,
        status: Status::Failed,
        checks_passed: 0,
        checks_total: 0,
        first_failure: None,
        build_log: None,
        checks: Vec::new(),
        seconds: 0.0,
        hints_used: 0,
        hints_total: 0,
    };
    let checks = testkit::checks::for_step(chapter);
    result.checks_total = checks.len();
    let target = testkit::Target::new(bin, chapter);
    let mounts_before = testkit::host::mounts();
    for check in checks {
        let t0 = Instant::now();
        let outcome = match &target {
            Ok(t) => run_check(check.run, t, check_limit),
            Err(e) => Err(format!("cannot prepare the test rootfs: {e:#}")),
        };
        kill_leftovers();
        let (passed, message) = match outcome {
            Ok(()) => (true, None),
            Err(why) => (false, Some(crate::report::without_backtrace(&why))),
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

/// The name of the threads checks run on: the grader's panic hook keeps
/// quiet for them (their panic message goes into the scorecard instead).
pub const CHECK_THREAD: &str = "grader-check";

/// Runs one check on a thread; a check that does not return within `limit`
/// fails (its thread is left behind, its processes killed). A check that
/// panics fails with its panic message.
fn run_check(
    check: fn(&testkit::Target) -> Result<(), String>,
    target: &testkit::Target,
    limit: Duration,
) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let target = target.clone();
    let spawned = std::thread::Builder::new()
        .name(CHECK_THREAD.to_owned())
        .spawn(move || {
            let result = std::panic::catch_unwind(|| check(&target)).unwrap_or_else(|payload| {
                Err(format!(
                    "the check itself panicked: {}",
                    panic_message(payload.as_ref())
                ))
            });
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        return Err(format!("cannot start the check's thread: {e}"));
    }
    rx.recv_timeout(limit).unwrap_or_else(|_| {
        Err(format!(
            "did not finish within {} s (the grader killed it)",
            limit.as_secs()
        ))
    })
}

/// The text a panic was raised with (`panic!("...")`, `assert!` and
/// `todo!` messages).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// SIGKILLs every process below the grader, whatever a check's run left,
/// except the learners' builds running alongside (and what they started).
pub fn kill_leftovers() {
    fn descendants(pid: u32, spare: &BTreeSet<u32>, into: &mut Vec<u32>) {
        for child in testkit::host::children_of(pid) {
            if spare.contains(&child) {
                continue;
            }
            into.push(child);
            descendants(child, spare, into);
        }
    }
    for _ in 0..3 {
        let spare = RUNNING_BUILDS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut all = Vec::new();
        descendants(getpid().as_raw() as u32, &spare, &mut all);
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
