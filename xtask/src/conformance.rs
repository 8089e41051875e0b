//! `cargo xtask conformance`: the opencontainers/runtime-tools validation
//! suite against runc, crun and (once it exists) step10, the chapter that is
//! "a real OCI runtime" (issue #17).
//!
//! - The suite comes from shared/runtime-tools (runtime-tools at 260e151, Go
//!   dependencies vendored). shared/ is read-only, so it is copied to
//!   `<target>/conformance/runtime-tools` and built there with Debian's Go,
//!   offline (`-mod=vendor`, `GOPROXY=off`): `runtimetest` and one `.t`
//!   program per directory of `validation/`. The build is kept and redone
//!   only when the copy or one of its programs is missing.
//! - Each `.t` file runs as root with `RUNTIME` set, from a scratch directory
//!   of its own runtime (`<target>/conformance/run/NAME/`: `work/` holds the
//!   `runtimetest` and `rootfs-amd64.tar.gz` the suite looks for in its
//!   working directory, `tmp/` is its `TMPDIR`, where it unpacks bundles),
//!   in a process group of its own, with a timeout, and prints TAP.
//! - runc and crun get `--root <scratch>/state` through a two-line wrapper
//!   script, so the containers the suite makes are listed, and deleted if a
//!   run leaves them, without looking at anyone else's.
//! - crun 1.8.1 refuses hybrid cgroup hosts, so on such a host the whole run
//!   is in a private mount namespace in which the cgroup2 mount is covered
//!   by an empty tmpfs, for every runtime alike, as `cargo xtask bench`
//!   does; the host's mounts are never changed.
//! - After every file: no container may be left in the runtime's root, no
//!   cgroup the suite names (`/cgrouptest`, `testdir/cgrouptest/container`,
//!   or a container id, a UUID), no bundle in `TMPDIR`, no mount in the run
//!   directory, no process of the file's group. What is found is removed and
//!   reported; the same sweep runs when the command fails or is interrupted.
//! - The TAP is parsed here ([`parse_tap`]); a file that exits non-zero,
//!   dies, times out or prints fewer points than its plan counts as a failed
//!   file whose remaining points are unknown.
//!
//! The tables go to the terminal and to book/src/generated/conformance.md.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{self, SigHandler, Signal};
use nix::unistd::Pid;

#[derive(clap::Args)]
pub struct Args {
    /// A runtime to measure, as NAME=PATH (repeatable). Default: runc, crun,
    /// and step10 when the workspace has that package.
    #[arg(long = "runtime", value_name = "NAME=PATH")]
    runtimes: Vec<String>,
    /// Run only these test files (names of validation/'s directories, e.g. `create kill`).
    #[arg(long, num_args = 1.., value_name = "TEST")]
    only: Vec<String>,
    /// Also list the points that runc or crun passes and another runtime does not.
    #[arg(long)]
    diff: bool,
    /// Seconds a test file may run before it is killed (and counted as failed).
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Do not rewrite book/src/generated/conformance.md (a run with --only never does).
    #[arg(long)]
    no_write: bool,
    /// CI's check: step10 alone, against the book's table (a real
    /// three-runtime run, `cargo xtask conformance`): at least the whole
    /// files of the better of runc and crun, and at least its own points
    /// of that run. A file that is not whole is run a second time. Writes
    /// nothing.
    #[arg(long, conflicts_with_all = ["runtimes", "only"])]
    ci: bool,
}

/// The commit of runtime-tools that shared/ holds.
const SUITE_COMMIT: &str = "260e151";

// --- TAP ---------------------------------------------------------------------

/// What one TAP point says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    /// `# SKIP`, whether the line says ok or not ok.
    Skip,
    /// `# TODO`: expected to fail, so it counts neither way.
    Todo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    pub number: u32,
    pub outcome: Outcome,
    /// The description, without the number, the dash and the directive.
    pub name: String,
}

/// One TAP stream, as far as it went.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tap {
    /// `1..N`, wherever it stood.
    pub plan: Option<u32>,
    pub points: Vec<Point>,
    /// `Bail out! reason`.
    pub bail_out: Option<String>,
}

impl Tap {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.points.iter().filter(|p| p.outcome == outcome).count()
    }
}

/// Parses TAP 13 as tap-go writes it: `TAP version 13`, a plan (first or
/// last), `ok`/`not ok` lines with optional numbers and `# SKIP`/`# TODO`
/// directives, `#` comments, and indented YAML blocks (`---` ... `...`).
/// Only lines that start in column 0 are points: the suite puts the TAP that
/// runtimetest printed inside the container into YAML diagnostics, and those
/// inner points are not the file's.
pub fn parse_tap(text: &str) -> Tap {
    let mut tap = Tap::default();
    let mut in_yaml = false;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if in_yaml {
            if line.trim() == "..." {
                in_yaml = false;
            }
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            if line.trim() == "---" {
                in_yaml = true;
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("Bail out!") {
            tap.bail_out = Some(rest.trim().to_owned());
            break;
        }
        if let Some(n) = parse_plan(line) {
            // Some files print one TAP stream per check (linux_cgroups_cpus:
            // `1..112`, then a second `TAP version 13` and `1..0`): the
            // file's plan is the sum.
            tap.plan = Some(tap.plan.unwrap_or(0) + n);
            continue;
        }
        let (ok, rest) = if let Some(rest) = line.strip_prefix("not ok") {
            (false, rest)
        } else if let Some(rest) = line.strip_prefix("ok") {
            (true, rest)
        } else {
            continue; // comments, the version line, stray output
        };
        if !(rest.is_empty() || rest.starts_with(' ')) {
            continue; // "okay", "not okay"
        }
        let rest = rest.trim_start();
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let number = rest[..digits]
            .parse()
            .unwrap_or(tap.points.len() as u32 + 1);
        let rest = rest[digits..].trim_start();
        let rest = rest.strip_prefix('-').unwrap_or(rest);
        let (name, directive) = split_directive(rest);
        let outcome = match directive {
            Some(Directive::Skip) => Outcome::Skip,
            Some(Directive::Todo) => Outcome::Todo,
            None if ok => Outcome::Pass,
            None => Outcome::Fail,
        };
        tap.points.push(Point {
            number,
            outcome,
            name: name.trim().to_owned(),
        });
    }
    tap
}

/// `1..N` with an optional `# reason`.
fn parse_plan(line: &str) -> Option<u32> {
    let rest = line.strip_prefix("1..")?;
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let tail = rest[digits..].trim();
    if digits == 0 || !(tail.is_empty() || tail.starts_with('#')) {
        return None;
    }
    rest[..digits].parse().ok()
}

enum Directive {
    Skip,
    Todo,
}

/// Splits `description # SKIP reason` at the first unescaped `#` that is
/// followed by SKIP or TODO (any case); other `#`s belong to the description.
fn split_directive(text: &str) -> (&str, Option<Directive>) {
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices('#') {
        if i > 0 && bytes[i - 1] == b'\\' {
            continue;
        }
        let word = text[i + 1..].trim_start();
        let head = word.get(..4).map(str::to_ascii_lowercase);
        let directive = match head.as_deref() {
            Some("skip") => Directive::Skip,
            Some("todo") => Directive::Todo,
            _ => continue,
        };
        return (&text[..i], Some(directive));
    }
    (text, None)
}

// --- One file's run ----------------------------------------------------------

/// How a test program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Exit(i32),
    Signal(i32),
    Timeout(u64),
}

#[derive(Debug, Clone)]
pub struct FileResult {
    pub name: String,
    pub tap: Tap,
    pub end: End,
    pub secs: f64,
    /// The line of its stderr that says most about a failure.
    pub why: Option<String>,
}

impl FileResult {
    /// Why the file did not run to its end; its points past those printed
    /// are then unknown. Empty when it ran through.
    pub fn stopped(&self) -> Vec<String> {
        let mut why = Vec::new();
        match self.end {
            End::Exit(0) => {}
            End::Exit(n) => why.push(format!("exit {n}")),
            End::Signal(n) => why.push(format!("killed by signal {n}")),
            End::Timeout(s) => why.push(format!("timed out after {s} s")),
        }
        if let Some(reason) = &self.tap.bail_out {
            why.push(format!("bailed out: {reason}"));
        }
        match self.tap.plan {
            None => why.push("no plan".into()),
            Some(n) if n as usize != self.tap.points.len() => {
                why.push(format!("{} of {n} planned points", self.tap.points.len()))
            }
            Some(_) => {}
        }
        why
    }

    /// Ran to its end with no failed point and at least one passed: a file
    /// that checked nothing (the seven hook files of runtime-tools print no
    /// point at all, and a file of skips proves nothing) is not whole.
    pub fn whole(&self) -> bool {
        self.stopped().is_empty()
            && self.tap.count(Outcome::Fail) == 0
            && self.tap.count(Outcome::Pass) > 0
    }

    fn cell(&self) -> String {
        let t = &self.tap;
        let mut cell = format!(
            "{}/{}/{}",
            t.count(Outcome::Pass),
            t.count(Outcome::Fail),
            t.count(Outcome::Skip)
        );
        if t.count(Outcome::Todo) > 0 {
            let _ = write!(cell, " +{} todo", t.count(Outcome::Todo));
        }
        let stopped = self.stopped();
        if !stopped.is_empty() {
            let _ = write!(cell, " STOPPED ({})", stopped.join(", "));
        } else if self.whole() {
            cell.push_str(" whole");
        }
        cell
    }
}

// --- Runtimes ----------------------------------------------------------------

struct Runtime {
    name: String,
    bin: PathBuf,
    version: String,
    /// Takes runc's global `--root DIR` (runc and crun do).
    has_root_flag: bool,
}

struct RuntimeResult {
    name: String,
    version: String,
    files: Vec<FileResult>,
    minutes: f64,
    /// What the runs left behind and the sweep removed.
    left: Vec<String>,
}

impl RuntimeResult {
    fn points(&self, outcome: Outcome) -> usize {
        self.files.iter().map(|f| f.tap.count(outcome)).sum()
    }

    /// Points passed in the files that ran to their end: a file that
    /// stopped early failed as a whole, whatever it printed before (runc
    /// and crun print 270 points in `process_capabilities_fail`, then the
    /// file fails them for having run a config the spec says to refuse).
    fn points_in_finished_files(&self) -> usize {
        self.files
            .iter()
            .filter(|f| f.stopped().is_empty())
            .map(|f| f.tap.count(Outcome::Pass))
            .sum()
    }
}

fn runtimes(args: &Args) -> anyhow::Result<Vec<Runtime>> {
    let mut wanted: Vec<(String, PathBuf)> = Vec::new();
    if args.runtimes.is_empty() {
        let others: &[&str] = if args.ci { &[] } else { &["runc", "crun"] };
        for &tool in others {
            match which(tool) {
                Some(bin) => wanted.push((tool.into(), bin)),
                None => eprintln!(
                    "conformance: {tool}: not installed (apt-get install {tool}), left out"
                ),
            }
        }
        if crate::workspace_root()
            .join("steps/step10/Cargo.toml")
            .is_file()
        {
            eprintln!("conformance: building step10");
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "--quiet", "-p", "step10"])
                .current_dir(crate::workspace_root())
                .status()
                .context("cargo build -p step10")?;
            if !status.success() {
                bail!("cargo build -p step10 failed");
            }
            wanted.push(("step10".into(), target_dir().join("debug/step10")));
        } else {
            eprintln!(
                "conformance: step10: no such package in the workspace yet (issue #17), left out"
            );
        }
    } else {
        for spec in &args.runtimes {
            let Some((name, path)) = spec.split_once('=') else {
                bail!("--runtime {spec:?}: expected NAME=PATH, e.g. --runtime runc=/usr/sbin/runc");
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                bail!("--runtime {spec:?}: NAME may have letters, digits, '-', '_' and '.' only");
            }
            let bin = if path.contains('/') {
                PathBuf::from(path)
            } else {
                which(path).with_context(|| format!("--runtime {spec}: {path} is not on PATH"))?
            };
            wanted.push((name.into(), bin));
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (name, bin) in wanted {
        if !seen.insert(name.clone()) {
            bail!("--runtime {name} given twice");
        }
        let bin = fs::canonicalize(&bin)
            .with_context(|| format!("{name}: {} does not exist", bin.display()))?;
        let first_line = |arg: &str| {
            Command::new(&bin)
                .arg(arg)
                .stdin(Stdio::null())
                .output()
                .map(|o| {
                    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
                    text.push_str(&String::from_utf8_lossy(&o.stderr));
                    text
                })
                .unwrap_or_default()
        };
        let version = first_line("--version")
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        let has_root_flag = first_line("--help").contains("--root");
        if !has_root_flag {
            eprintln!(
                "conformance: {name}: its --help has no --root, so it runs with its own state directory; \
                 the containers it leaves are looked for with its bare `list`"
            );
        }
        out.push(Runtime {
            name,
            bin,
            version,
            has_root_flag,
        });
    }
    if out.is_empty() {
        bail!("no runtime to measure: install runc or crun, or give --runtime NAME=PATH");
    }
    Ok(out)
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(tool))
        .find(|p| p.is_file())
}

/// Where cargo puts things: `$CARGO_TARGET_DIR` or `<workspace>/target`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => crate::workspace_root().join(dir),
        None => crate::workspace_root().join("target"),
    }
}

// --- The suite ---------------------------------------------------------------

/// shared/runtime-tools: beside the workspace (as CI lays it out, and as
/// the developers' worktrees have it), or where `RUNTIME_TOOLS_SRC` says.
fn suite_source() -> anyhow::Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("RUNTIME_TOOLS_SRC") {
        candidates.push(PathBuf::from(dir));
    }
    let root = crate::workspace_root();
    if let Some(parent) = root.parent() {
        candidates.push(parent.join("shared/runtime-tools"));
    }
    candidates.push(PathBuf::from("/work/shared/runtime-tools"));
    candidates
        .iter()
        .find(|d| d.join("validation").is_dir() && d.join("vendor").is_dir())
        .cloned()
        .with_context(|| {
            format!(
                "runtime-tools not found in {}; set RUNTIME_TOOLS_SRC to a checkout with vendor/",
                candidates
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// The validation programs: (name, path), sorted by name.
fn test_files(suite: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(suite.join("validation"))? {
        let dir = entry?.path();
        let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name == "util" || !dir.join(format!("{name}.go")).is_file() {
            continue;
        }
        files.push((name.to_owned(), dir.join(format!("{name}.t"))));
    }
    files.sort();
    Ok(files)
}

/// Copies the suite under the target dir and builds it, unless a finished
/// build is there. Returns the copy.
fn build_suite() -> anyhow::Result<PathBuf> {
    let dest = target_dir().join("conformance/runtime-tools");
    let stamp = dest.join(".xtask-built");
    if stamp.is_file()
        && dest.join("runtimetest").is_file()
        && test_files(&dest)?.iter().all(|(_, t)| t.is_file())
    {
        return Ok(dest);
    }
    let src = suite_source()?;
    eprintln!(
        "conformance: building runtime-tools ({}) in {}",
        src.display(),
        dest.display()
    );
    if dest.exists() {
        fs::remove_dir_all(&dest).with_context(|| format!("rm -r {}", dest.display()))?;
    }
    fs::create_dir_all(dest.parent().expect("below target"))?;
    // cp -a, then make the copy writable: shared/ has no write bits.
    for (prog, args) in [
        ("cp", vec!["-a".into(), src.clone(), dest.clone()]),
        ("chmod", vec!["-R".into(), "u+w".into(), dest.clone()]),
    ] {
        let status = Command::new(prog).args(&args).status()?;
        if !status.success() {
            bail!("{prog} {args:?} failed ({status})");
        }
    }
    let go = target_dir().join("conformance/go");
    let status = Command::new("make")
        .args([
            "runtimetest",
            "validation-executables",
            &format!("COMMIT={SUITE_COMMIT}"),
        ])
        .current_dir(&dest)
        // Offline, from vendor/; no VCS stamping (the copy may sit inside
        // the workspace's git tree); caches under target/.
        .env("GO111MODULE", "on")
        .env("GOFLAGS", "-mod=vendor -buildvcs=false")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOPATH", go.join("path"))
        .env("GOCACHE", go.join("cache"))
        .stdin(Stdio::null())
        .status()
        .context("make (is golang-go installed? apt-get install golang-go make)")?;
    if !status.success() {
        bail!("building runtime-tools failed ({status}); see the output above");
    }
    fs::write(&stamp, format!("{SUITE_COMMIT}\n"))?;
    Ok(dest)
}

// --- The sandbox one runtime runs in -----------------------------------------

/// A runtime's scratch directory and the sweep that keeps the host clean.
struct Sandbox<'a> {
    rt: &'a Runtime,
    dir: PathBuf,
    /// What RUNTIME is set to: the wrapper, or the binary itself.
    command: PathBuf,
    /// The cgroup directories that were there before the runtime's first file.
    cgroups_before: BTreeSet<PathBuf>,
    mounts_before: BTreeSet<String>,
    /// Everything the sweeps found and removed, for the report.
    left: Vec<String>,
    /// What the sweeps could not remove.
    stuck: Vec<String>,
}

impl<'a> Sandbox<'a> {
    fn new(run_dir: &Path, rt: &'a Runtime, suite: &Path) -> anyhow::Result<Self> {
        let dir = run_dir.join(&rt.name);
        let command = if rt.has_root_flag {
            dir.join("bin").join(&rt.name)
        } else {
            rt.bin.clone()
        };
        let mut sb = Sandbox {
            rt,
            dir,
            command,
            cgroups_before: BTreeSet::new(),
            mounts_before: BTreeSet::new(),
            left: Vec::new(),
            stuck: Vec::new(),
        };
        // A killed earlier run may have left containers in the old state
        // directory: delete them before that directory goes. (Its cgroups
        // are not looked for: with no list of what was there before, a
        // cgroup of someone else's could look like the suite's.)
        sb.cgroups_before = cgroup_dirs();
        if sb.dir.exists() {
            sb.sweep("an earlier run");
            fs::remove_dir_all(&sb.dir).with_context(|| format!("rm -r {}", sb.dir.display()))?;
        }
        for sub in ["bin", "state", "tmp", "work", "logs"] {
            fs::create_dir_all(sb.dir.join(sub))?;
        }
        for file in ["runtimetest", "rootfs-amd64.tar.gz"] {
            fs::copy(suite.join(file), sb.dir.join("work").join(file))
                .with_context(|| format!("copy {file} from {}", suite.display()))?;
        }
        if rt.has_root_flag {
            // The suite runs "$RUNTIME create ...": the wrapper adds the
            // state directory, and logs each call (the ids are UUIDs).
            let script = format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{log}'\nexec '{bin}' --root '{state}' \"$@\"\n",
                log = sb.dir.join("logs/calls.log").display(),
                bin = rt.bin.display(),
                state = sb.dir.join("state").display(),
            );
            fs::write(&sb.command, script)?;
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&sb.command, fs::Permissions::from_mode(0o755))?;
        }
        sb.cgroups_before = cgroup_dirs();
        sb.mounts_before = mount_points();
        Ok(sb)
    }

    /// Runs one test program to its end or its timeout.
    fn run_file(&self, name: &str, test: &Path, timeout: u64) -> anyhow::Result<FileResult> {
        let logs = self.dir.join("logs");
        let stdout = fs::File::create(logs.join(format!("{name}.tap")))?;
        let stderr = fs::File::create(logs.join(format!("{name}.err")))?;
        let started = Instant::now();
        let mut child = Command::new(test)
            .current_dir(self.dir.join("work"))
            .env("RUNTIME", &self.command)
            .env("TMPDIR", self.dir.join("tmp"))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .with_context(|| format!("start {}", test.display()))?;
        let group = Pid::from_raw(child.id() as i32);
        let end = loop {
            if let Some(status) = child.try_wait()? {
                break match (status.code(), status.signal()) {
                    (Some(code), _) => End::Exit(code),
                    (None, Some(sig)) => End::Signal(sig),
                    (None, None) => End::Exit(-1),
                };
            }
            if INTERRUPTED.load(Ordering::SeqCst) {
                let _ = signal::killpg(group, Signal::SIGKILL);
                let _ = child.wait();
                bail!("interrupted during {name}");
            }
            if started.elapsed() > Duration::from_secs(timeout) {
                let _ = signal::killpg(group, Signal::SIGKILL);
                let _ = child.wait();
                break End::Timeout(timeout);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // What the program started and left running: the `unshare --fork
        // sleep 10000` holders of the namespace tests, a stuck runtime.
        let _ = signal::killpg(group, Signal::SIGKILL);
        let secs = started.elapsed().as_secs_f64();
        let tap = parse_tap(&fs::read_to_string(logs.join(format!("{name}.tap")))?);
        let err = fs::read_to_string(logs.join(format!("{name}.err"))).unwrap_or_default();
        let why = err
            .lines()
            .find(|l| l.contains("error") || l.contains("Error"))
            .or_else(|| err.lines().find(|l| !l.trim().is_empty()))
            .map(|l| l.trim().chars().take(200).collect());
        Ok(FileResult {
            name: name.into(),
            tap,
            end,
            secs,
            why,
        })
    }

    /// Removes what the runs left: containers in the runtime's root, the
    /// suite's cgroups, bundles in TMPDIR, mounts below the run directory.
    /// Records each thing found under `after`.
    fn sweep(&mut self, after: &str) {
        // Containers: delete --force each one the runtime still lists.
        let ids = self.list();
        for id in &ids {
            let ok = self
                .runtime_cmd()
                .args(["delete", "--force", id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            self.left.push(format!(
                "{after}: container {id} ({})",
                if ok {
                    "deleted"
                } else {
                    "delete --force failed"
                }
            ));
        }
        if !ids.is_empty() {
            let still = self.list();
            if !still.is_empty() {
                self.stuck
                    .push(format!("containers still listed: {}", still.join(", ")));
            }
        }
        // The suite's cgroups, deepest first; a process still inside is a
        // container's, so it is killed first.
        let ids = self.suite_ids();
        let mut new: Vec<PathBuf> = cgroup_dirs()
            .difference(&self.cgroups_before)
            .filter(|p| suite_cgroup(p, &ids))
            .cloned()
            .collect();
        new.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for dir in new {
            match testkit::host::remove_cgroup(&dir) {
                Ok(()) => self
                    .left
                    .push(format!("{after}: cgroup {} (removed)", dir.display())),
                Err(e) => self
                    .stuck
                    .push(format!("cgroup {}: rmdir: {e}", dir.display())),
            }
        }
        // Mounts in this (private) namespace below the run directory.
        let mut mounts: Vec<String> = mount_points()
            .difference(&self.mounts_before)
            .filter(|m| Path::new(m).starts_with(&self.dir))
            .cloned()
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            match nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH) {
                Ok(()) => self.left.push(format!("{after}: mount {m} (unmounted)")),
                Err(e) => self.stuck.push(format!("mount {m}: umount2: {e}")),
            }
        }
        // Bundles the suite unpacked into TMPDIR and did not remove.
        if let Ok(entries) = fs::read_dir(self.dir.join("tmp")) {
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                let removed = if path.is_dir() && !path.is_symlink() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                match removed {
                    Ok(()) => self
                        .left
                        .push(format!("{after}: TMPDIR/{name} (the suite's, removed)")),
                    Err(e) => self.stuck.push(format!("{}: {e}", path.display())),
                }
            }
        }
    }

    /// The container ids the suite passed to the runtime, from the
    /// wrapper's log; None when there is no wrapper (then any UUID counts).
    fn suite_ids(&self) -> Option<BTreeSet<String>> {
        if !self.rt.has_root_flag {
            return None;
        }
        let log = fs::read_to_string(self.dir.join("logs/calls.log")).unwrap_or_default();
        Some(
            log.split_whitespace()
                .filter(|w| has_uuid(w))
                .map(str::to_owned)
                .collect(),
        )
    }

    fn runtime_cmd(&self) -> Command {
        let mut cmd = Command::new(&self.rt.bin);
        if self.rt.has_root_flag {
            cmd.arg("--root").arg(self.dir.join("state"));
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// The ids `list -q` prints. Without a root of our own, only the ids
    /// shaped like the suite's (UUIDs) are ours.
    fn list(&self) -> Vec<String> {
        let Ok(out) = self.runtime_cmd().args(["list", "-q"]).output() else {
            return Vec::new();
        };
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .filter(|id| self.rt.has_root_flag || has_uuid(id))
            .map(str::to_owned)
            .collect()
    }

    /// The last sweep; the state and TMPDIR directories go (the logs stay).
    fn finish(mut self) -> anyhow::Result<Vec<String>> {
        self.sweep("the end of the run");
        for sub in ["state", "tmp"] {
            let dir = self.dir.join(sub);
            if let Err(e) = fs::remove_dir_all(&dir) {
                self.stuck.push(format!("{}: {e}", dir.display()));
            }
        }
        let stuck = std::mem::take(&mut self.stuck);
        let left = std::mem::take(&mut self.left);
        if !stuck.is_empty() {
            bail!("{}: could not clean up: {}", self.rt.name, stuck.join("; "));
        }
        Ok(left)
    }
}

impl Drop for Sandbox<'_> {
    /// On an error or Ctrl-C the same sweep runs, and says what it did.
    fn drop(&mut self) {
        if self.left.is_empty() && self.stuck.is_empty() && !self.dir.join("state").exists() {
            return; // finished, or never started
        }
        self.sweep("an interrupted run");
        for line in self.left.iter().chain(&self.stuck) {
            eprintln!("conformance: {}: cleanup: {line}", self.rt.name);
        }
    }
}

/// Every directory of every cgroup hierarchy mounted under /sys/fs/cgroup.
fn cgroup_dirs() -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                let path = entry.path();
                out.insert(path.clone());
                walk(&path, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    if let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") {
        for h in hierarchies.flatten() {
            // Not the tmpfs that covers the cgroup2 mount on a hybrid host:
            // crun makes plain directories there, which go with the mount
            // namespace.
            let is_cgroup = nix::sys::statfs::statfs(&h.path())
                .map(|s| {
                    let t = s.filesystem_type();
                    t == nix::sys::statfs::CGROUP_SUPER_MAGIC
                        || t == nix::sys::statfs::CGROUP2_SUPER_MAGIC
                })
                .unwrap_or(false);
            if is_cgroup && !h.path().is_symlink() {
                walk(&h.path(), &mut out);
            }
        }
    }
    out
}

/// A cgroup the suite's containers get: its cgroupsPath values
/// (`/cgrouptest`, `testdir/cgrouptest/container`) or the container id, a
/// UUID, which runc and crun name a cgroup after when there is none.
fn suite_cgroup(path: &Path, ids: &Option<BTreeSet<String>>) -> bool {
    path.components().any(|c| {
        let c = c.as_os_str().to_string_lossy();
        c == "cgrouptest"
            || c == "testdir"
            || match ids {
                Some(ids) => ids.iter().any(|id| c.contains(id.as_str())),
                None => has_uuid(&c),
            }
    })
}

/// Whether `text` holds a UUID (8-4-4-4-12 hex digits), as the suite's ids are.
fn has_uuid(text: &str) -> bool {
    let b = text.as_bytes();
    b.windows(36).any(|w| {
        w.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
    })
}

/// The mount points of this process's mount namespace.
fn mount_points() -> BTreeSet<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
        .collect()
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Ctrl-C and SIGTERM end the current file and run the sweep, instead of
/// killing xtask with containers still there.
fn catch_interrupts() -> anyhow::Result<()> {
    let action = signal::SigAction::new(
        SigHandler::Handler(on_interrupt),
        signal::SaFlags::SA_RESTART,
        signal::SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe { signal::sigaction(sig, &action) }.with_context(|| format!("sigaction({sig})"))?;
    }
    Ok(())
}

// --- The command -------------------------------------------------------------

pub fn run(args: Args) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("the conformance suite creates containers and cgroups: run it as root");
    }
    let suite = build_suite()?;
    let mut files = test_files(&suite)?;
    if !args.only.is_empty() {
        let known: BTreeSet<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        let unknown: Vec<&String> = args
            .only
            .iter()
            .filter(|n| !known.contains(n.as_str()))
            .collect();
        if !unknown.is_empty() {
            bail!(
                "--only: no such test file: {unknown:?}; the files are: {}",
                known.into_iter().collect::<Vec<_>>().join(" ")
            );
        }
        files.retain(|(n, _)| args.only.contains(n));
    }
    let runtimes = runtimes(&args)?;
    // Before any thread or child: unshare(CLONE_NEWNS) wants this process alone.
    let cgroup_note = crate::bench::enter_private_cgroup_view()?;
    eprintln!("conformance: {cgroup_note}");
    catch_interrupts()?;

    let run_dir = target_dir().join("conformance/run");
    let mut results = Vec::new();
    for rt in &runtimes {
        eprintln!(
            "conformance: {} ({}), {} test files",
            rt.name,
            rt.version,
            files.len()
        );
        let started = Instant::now();
        let mut sandbox = Sandbox::new(&run_dir, rt, &suite)?;
        let mut done = Vec::new();
        for (name, test) in &files {
            let mut result = sandbox.run_file(name, test, args.timeout)?;
            sandbox.sweep(name);
            // --ci: the suite's own timing (1 s polls, 5 s waits) makes a
            // file fail now and then on a loaded machine: one that is not
            // whole is run once more, said on the terminal, and the run
            // with more points passed counts.
            if args.ci && !result.whole() {
                let again = sandbox.run_file(name, test, args.timeout)?;
                sandbox.sweep(name);
                eprintln!(
                    "conformance: {:<8} {:<34} retried: {} then {}",
                    rt.name,
                    name,
                    result.cell(),
                    again.cell()
                );
                if again.tap.count(Outcome::Pass) > result.tap.count(Outcome::Pass)
                    || (again.whole() && !result.whole())
                {
                    result = again;
                }
            }
            eprintln!(
                "conformance: {:<8} {:<34} {:>6.1} s  {}",
                rt.name,
                name,
                result.secs,
                result.cell()
            );
            done.push(result);
        }
        let left = sandbox.finish()?;
        results.push(RuntimeResult {
            name: rt.name.clone(),
            version: rt.version.clone(),
            files: done,
            minutes: started.elapsed().as_secs_f64() / 60.0,
            left,
        });
    }

    let report = report(&results, &cgroup_note, args.diff);
    println!("\n{}", report.terminal);
    if args.ci {
        let table = crate::workspace_root().join("book/src/generated/conformance.md");
        let text =
            fs::read_to_string(&table).with_context(|| format!("read {}", table.display()))?;
        let step10 = results
            .iter()
            .find(|r| r.name == "step10")
            .context("step10 did not run")?;
        let whole = step10.files.iter().filter(|f| f.whole()).count();
        return hold_to_recorded(
            &text,
            Held {
                passed: step10.points(Outcome::Pass),
                finished: step10.points_in_finished_files(),
                whole,
            },
        );
    }
    if args.no_write || !args.only.is_empty() {
        eprintln!("conformance: book/src/generated/conformance.md left as it was");
    } else {
        let path = crate::workspace_root().join("book/src/generated/conformance.md");
        fs::write(&path, &report.markdown).with_context(|| format!("write {}", path.display()))?;
        eprintln!("conformance: wrote {}", path.display());
    }
    Ok(())
}

// ANCHOR: ci
/// What `--ci` holds step10 to: its points passed, those of them in files
/// that ran to their end, and its whole files.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    pub passed: usize,
    pub finished: usize,
    pub whole: usize,
}

/// `--ci`: step10 against the book's table (a real three-runtime run,
/// `cargo xtask conformance`): at least the whole files, and the points
/// passed in files run to their end, of the better of runc and crun; and at
/// least the points step10 itself passed in that run. (All points are not
/// held to crun's: crun prints 270 in `process_capabilities_fail` by running
/// a container whose config names a capability that does not exist, which
/// the spec says must be refused, and the file then fails it; the book's
/// chapter 10 lists every such point.)
pub fn hold_to_recorded(table: &str, now: Held) -> anyhow::Result<()> {
    let mut best: Option<(usize, usize)> = None;
    let mut own_points: Option<usize> = None;
    for line in table.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // ["", name, version, passed, in finished files, failed, skipped,
        //  "W of N", stopped, minutes, ""]
        if cells.len() < 10 || cells[1] == "runtime" {
            continue;
        }
        let (Ok(p), Ok(f), Some(Ok(w))) = (
            cells[3].parse::<usize>(),
            cells[4].parse::<usize>(),
            cells[7].split(' ').next().map(str::parse::<usize>),
        ) else {
            continue;
        };
        if cells[1] == "step10" {
            own_points = Some(p);
        } else {
            let (bf, bw) = best.unwrap_or((0, 0));
            best = Some((bf.max(f), bw.max(w)));
        }
    }
    let (Some((best_finished, best_whole)), Some(own_points)) = (best, own_points) else {
        bail!(
            "the book's conformance table lacks a row of runc or crun, or of step10: run `cargo xtask conformance` (all three runtimes) and commit book/src/generated/conformance.md"
        );
    };
    let Held {
        passed,
        finished,
        whole,
    } = now;
    println!(
        "conformance --ci: step10 passed {passed} points (the book's run: {own_points}), {finished} of them in files run to their end (the better of runc and crun: {best_finished}), and {whole} whole files (the better of runc and crun: {best_whole})"
    );
    if passed < own_points || finished < best_finished || whole < best_whole {
        bail!(
            "step10 fell: {passed} < {own_points} points, {finished} < {best_finished} points in files run to their end, or {whole} < {best_whole} whole files (the list above says which files)"
        );
    }
    Ok(())
}
// ANCHOR_END: ci

// --- The report --------------------------------------------------------------

struct Report {
    terminal: String,
    markdown: String,
}

/// (file, point name, occurrence of that name in the file): points are
/// matched by name, as numbers shift when a runtime makes a file stop early.
type PointKey = (String, String, usize);

fn point_outcomes(r: &RuntimeResult) -> BTreeMap<PointKey, Outcome> {
    let mut out = BTreeMap::new();
    for f in &r.files {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for p in &f.tap.points {
            let n = seen.entry(&p.name).or_default();
            *n += 1;
            out.insert((f.name.clone(), p.name.clone(), *n), p.outcome);
        }
    }
    out
}

/// Points `a` passes and `b` fails or never reached.
fn diff(a: &RuntimeResult, b: &RuntimeResult) -> Vec<String> {
    let (pa, pb) = (point_outcomes(a), point_outcomes(b));
    pa.iter()
        .filter(|(_, o)| **o == Outcome::Pass)
        .filter_map(|(key, _)| {
            let how = match pb.get(key) {
                Some(Outcome::Pass) | Some(Outcome::Skip) | Some(Outcome::Todo) => return None,
                Some(Outcome::Fail) => "fails",
                None => "never reached",
            };
            let (file, name, n) = key;
            let nth = if *n > 1 {
                format!(" (#{n})")
            } else {
                String::new()
            };
            Some(format!("{file}: {name}{nth}: {how}"))
        })
        .collect()
}

fn report(results: &[RuntimeResult], cgroup_note: &str, with_diff: bool) -> Report {
    let total_files = results.first().map(|r| r.files.len()).unwrap_or(0);
    let mut md = String::from(
        "<!-- generated by `cargo xtask conformance` from a real run; do not edit -->\n\n",
    );
    let mut term = String::new();

    let _ = writeln!(
        md,
        "| runtime | version | points passed | passed in files run to their end | failed | skipped | files whole | files stopped early | minutes |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        term,
        "{:<8} {:<28} {:>7} {:>8} {:>7} {:>7} {:>11} {:>8} {:>8}",
        "runtime",
        "version",
        "passed",
        "finished",
        "failed",
        "skipped",
        "files whole",
        "stopped",
        "minutes"
    );
    for r in results {
        let whole = r.files.iter().filter(|f| f.whole()).count();
        let stopped = r.files.iter().filter(|f| !f.stopped().is_empty()).count();
        let finished = r.points_in_finished_files();
        let (pass, fail, skip) = (
            r.points(Outcome::Pass),
            r.points(Outcome::Fail),
            r.points(Outcome::Skip),
        );
        let _ = writeln!(
            md,
            "| {} | {} | {pass} | {finished} | {fail} | {skip} | {whole} of {} | {stopped} | {:.1} |",
            r.name,
            r.version,
            r.files.len(),
            r.minutes
        );
        let _ = writeln!(
            term,
            "{:<8} {:<28} {pass:>7} {finished:>8} {fail:>7} {skip:>7} {:>11} {stopped:>8} {:>8.1}",
            r.name,
            r.version,
            format!("{whole} of {}", r.files.len()),
            r.minutes
        );
        let todo = r.points(Outcome::Todo);
        if todo > 0 {
            let _ = writeln!(md, "\n{}: {todo} TODO points, counted neither way.", r.name);
            let _ = writeln!(
                term,
                "  {}: {todo} TODO points, counted neither way",
                r.name
            );
        }
    }
    let legend = format!(
        "Points are the TAP lines of the {total_files} validation files of opencontainers/runtime-tools \
         ({SUITE_COMMIT}); a skipped point (`# SKIP`) is neither passed nor failed. A file is whole when \
         it ran to its end (exit 0, as many points as its plan) with no failed point and at least one \
         passed: a file that checked nothing (the seven hook files print no point) is not whole. A file that \
         stopped early (a non-zero exit, a signal, the timeout, a missing or short plan) counts as \
         not whole, and its points past those it printed are unknown: they are in no column. \
         The points it did print count as passed, but not as passed in files run to their end: \
         such a file failed as a whole (`process_capabilities_fail` prints 270 points from inside \
         a container that should never have started, then fails).\n\n\
         {cgroup_note}"
    );
    let _ = writeln!(md, "\n{legend}\n");
    let _ = writeln!(term, "\n{legend}\n");

    // The matrix: file × runtime.
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    let _ = writeln!(
        md,
        "| file | {} |\n|---|{}",
        names.join(" | "),
        "---|".repeat(names.len())
    );
    let _ = writeln!(
        term,
        "passed/failed/skipped per file:\n{:<34} {}",
        "file",
        names.iter().map(|n| format!("{n:<26}")).collect::<String>()
    );
    let width = 26;
    for (i, f) in results
        .first()
        .map(|r| r.files.as_slice())
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let cells: Vec<String> = results.iter().map(|r| r.files[i].cell()).collect();
        let _ = writeln!(md, "| `{}` | {} |", f.name, cells.join(" | "));
        let _ = writeln!(
            term,
            "{:<34} {}",
            f.name,
            cells
                .iter()
                .map(|c| format!("{c:<width$} "))
                .collect::<String>()
                .trim_end()
        );
    }

    // Why files stopped, and what runs left behind.
    let mut notes = String::new();
    for r in results {
        for f in r.files.iter().filter(|f| !f.stopped().is_empty()) {
            let _ = writeln!(
                notes,
                "- {} `{}`: {}{}",
                r.name,
                f.name,
                f.stopped().join(", "),
                f.why
                    .as_ref()
                    .map(|w| format!(": {}", w.replace('|', "\\|")))
                    .unwrap_or_default()
            );
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(
            md,
            "\nFiles that stopped early, with the line of stderr that says why:\n\n{notes}"
        );
        let _ = writeln!(term, "\nfiles that stopped early:\n{notes}");
    }
    let mut left = String::new();
    for r in results {
        if r.left.is_empty() {
            let _ = writeln!(left, "- {}: nothing", r.name);
        } else {
            let _ = writeln!(left, "- {}: {} things, all removed:", r.name, r.left.len());
            for l in &r.left {
                let _ = writeln!(left, "  - {l}");
            }
        }
    }
    let _ = writeln!(
        md,
        "\nLeft behind after each file (containers, the suite's cgroups, bundles, mounts):\n\n{left}"
    );
    let _ = writeln!(term, "\nleft behind (and removed by the sweep):\n{left}");

    if with_diff {
        for a in results
            .iter()
            .filter(|r| r.name == "runc" || r.name == "crun")
        {
            for b in results.iter().filter(|b| b.name != a.name) {
                let lines = diff(a, b);
                let title = format!(
                    "Points {} passes and {} does not ({})",
                    a.name,
                    b.name,
                    lines.len()
                );
                let _ = writeln!(md, "\n<details><summary>{title}</summary>\n");
                let _ = writeln!(term, "\n{title}:");
                for l in &lines {
                    let _ = writeln!(md, "- {}", l.replace('|', "\\|"));
                    let _ = writeln!(term, "  {l}");
                }
                let _ = writeln!(md, "\n</details>");
            }
        }
    }
    Report {
        terminal: term,
        markdown: md,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(tap: &Tap) -> Vec<(u32, Outcome, &str)> {
        tap.points
            .iter()
            .map(|p| (p.number, p.outcome, p.name.as_str()))
            .collect()
    }

    #[test]
    fn plan_first_ok_not_ok() {
        let tap = parse_tap("TAP version 13\n1..3\nok 1 - create\nnot ok 2 - kill\nok 3\n");
        assert_eq!(tap.plan, Some(3));
        assert_eq!(
            outcomes(&tap),
            [
                (1, Outcome::Pass, "create"),
                (2, Outcome::Fail, "kill"),
                (3, Outcome::Pass, "")
            ]
        );
        assert_eq!(tap.bail_out, None);
    }

    #[test]
    fn plan_last_as_tap_go_prints_it() {
        let tap = parse_tap("TAP version 13\nok 1 - a\nok 2 - b\n1..2\n");
        assert_eq!(tap.plan, Some(2));
        assert_eq!(tap.count(Outcome::Pass), 2);
    }

    #[test]
    fn two_streams_in_one_file_add_up() {
        let tap = parse_tap("TAP version 13\nok 1\nok 2\n1..2\nTAP version 13\nok 1 - c\n1..1\n");
        assert_eq!(tap.plan, Some(3));
        let f = file(tap, End::Exit(0));
        assert!(f.whole());
        let f = file(
            parse_tap("TAP version 13\nok 1\n1..1\nTAP version 13\n1..0\n"),
            End::Exit(0),
        );
        assert!(f.whole());
    }

    #[test]
    fn skip_and_todo_directives() {
        let tap = parse_tap(
            "1..5\n\
             ok 1 # SKIP linux.sysctl not set\n\
             ok 2 - has # in its name # skip lower case\n\
             not ok 3 - not there yet # TODO later\n\
             ok 4 - done early # todo\n\
             not ok 5 # SKIP not applicable\n",
        );
        assert_eq!(
            outcomes(&tap),
            [
                (1, Outcome::Skip, ""),
                (2, Outcome::Skip, "has # in its name"),
                (3, Outcome::Todo, "not there yet"),
                (4, Outcome::Todo, "done early"),
                (5, Outcome::Skip, "")
            ]
        );
        assert_eq!(tap.count(Outcome::Fail), 0);
    }

    #[test]
    fn a_hash_that_is_no_directive_stays_in_the_name() {
        let tap = parse_tap("ok 1 - mount #2 is ok\nok 2 - escaped \\# SKIP is a name\n");
        assert_eq!(tap.points[0].outcome, Outcome::Pass);
        assert_eq!(tap.points[0].name, "mount #2 is ok");
        assert_eq!(tap.points[1].outcome, Outcome::Pass);
    }

    #[test]
    fn yaml_blocks_and_inner_tap_are_not_points() {
        let text = "TAP version 13\n\
                    ok 1 - outer\n  ---\n  {\n    \"stdout\": \"ok 1 - inner\\nnot ok 2\",\n  }\n  ...\n\
                    not ok 2 - second\n  ---\nok 99 - inside a yaml block that never ends\n";
        let tap = parse_tap(text);
        assert_eq!(
            outcomes(&tap),
            [(1, Outcome::Pass, "outer"), (2, Outcome::Fail, "second")]
        );
    }

    #[test]
    fn unnumbered_points_and_lookalikes() {
        let tap = parse_tap("ok\nnot ok - b\nokay 3\n# ok 4 in a comment\n 1..9\n1..2\n");
        assert_eq!(
            outcomes(&tap),
            [(1, Outcome::Pass, ""), (2, Outcome::Fail, "b")]
        );
        assert_eq!(tap.plan, Some(2));
    }

    #[test]
    fn skipped_file_plan() {
        let tap = parse_tap("TAP version 13\n1..1\nok 1 # skip cgroup v2 only\n");
        let f = file(tap, End::Exit(0));
        assert!(f.stopped().is_empty());
        assert!(!f.whole(), "a file of skips checked nothing");
        let f = file(parse_tap("TAP version 13\n1..0\n"), End::Exit(0));
        assert!(!f.whole(), "a file of no point checked nothing");
        let tap = parse_tap("1..0 # SKIP no hugetlb\n");
        assert_eq!(tap.plan, Some(0));
    }

    fn file(tap: Tap, end: End) -> FileResult {
        FileResult {
            name: "t".into(),
            tap,
            end,
            secs: 0.0,
            why: None,
        }
    }

    #[test]
    fn a_crash_mid_file_is_a_stopped_file() {
        // The program died (exit 2) after two of its five points.
        let tap = parse_tap("TAP version 13\n1..5\nok 1 - a\nok 2 - b\npanic: runtime error\n");
        let f = file(tap, End::Exit(2));
        assert_eq!(f.stopped(), ["exit 2", "2 of 5 planned points"]);
        assert!(!f.whole());
        assert_eq!(f.tap.count(Outcome::Pass), 2);
        // tap-go prints its plan last: a crash leaves none.
        let f = file(parse_tap("ok 1 - a\n"), End::Signal(9));
        assert_eq!(f.stopped(), ["killed by signal 9", "no plan"]);
        // util.Fatal after the header: "1..0" and exit 1.
        let f = file(parse_tap("TAP version 13\n1..0\n"), End::Exit(1));
        assert_eq!(f.stopped(), ["exit 1"]);
        let f = file(parse_tap(""), End::Timeout(300));
        assert_eq!(f.stopped(), ["timed out after 300 s", "no plan"]);
        let f = file(
            parse_tap("1..2\nok 1\nBail out! no runtime\n"),
            End::Exit(0),
        );
        assert_eq!(
            f.stopped(),
            ["bailed out: no runtime", "1 of 2 planned points"]
        );
    }

    #[test]
    fn ci_holds_step10_to_its_own_points_and_the_better_of_the_others() {
        let table = "| runtime | version | points passed | passed in files run to their end | failed | skipped | files whole | files stopped early | minutes |\n\
                     |---|---|---:|---:|---:|---:|---:|---:|---:|\n\
                     | runc | runc 1.1.5 | 3278 | 3008 | 32 | 427 | 28 of 58 | 8 | 1.1 |\n\
                     | crun | crun 1.8.1 | 3567 | 3297 | 17 | 465 | 34 of 58 | 7 | 1.1 |\n\
                     | step10 | step10 0.1.0 | 3565 | 3565 | 19 | 458 | 36 of 58 | 6 | 1.5 |\n";
        let held = |passed, finished, whole| {
            hold_to_recorded(
                table,
                Held {
                    passed,
                    finished,
                    whole,
                },
            )
        };
        assert!(held(3565, 3565, 34).is_ok());
        assert!(held(3600, 3600, 36).is_ok());
        assert!(held(3565, 3297, 34).is_ok(), "crun's own finished points");
        assert!(
            held(3564, 3564, 36).is_err(),
            "fewer points than its own run"
        );
        assert!(held(3565, 3565, 33).is_err(), "fewer whole files than crun");
        assert!(
            held(3565, 3296, 36).is_err(),
            "fewer points in finished files than crun"
        );
        assert!(
            hold_to_recorded(
                "no table here",
                Held {
                    passed: 4000,
                    finished: 4000,
                    whole: 58
                }
            )
            .is_err()
        );
    }

    #[test]
    fn a_failed_point_makes_a_file_not_whole() {
        let f = file(parse_tap("ok 1\nnot ok 2\n1..2\n"), End::Exit(0));
        assert!(f.stopped().is_empty());
        assert!(!f.whole());
        let f = file(parse_tap("ok 1\nok 2 # SKIP x\n1..2\n"), End::Exit(0));
        assert!(f.whole());
    }

    #[test]
    fn uuids_and_suite_cgroups() {
        assert!(has_uuid("0b3c52a1-4c1e-4c6f-9d0e-2a6f1f5d3b7e"));
        assert!(has_uuid("crun-0b3c52a1-4c1e-4c6f-9d0e-2a6f1f5d3b7e.scope"));
        assert!(!has_uuid("bench-crun"));
        assert!(!has_uuid("0b3c52a1-4c1e-4c6f-9d0e-2a6f1f5d3b7"));
        let none = None;
        assert!(suite_cgroup(
            Path::new("/sys/fs/cgroup/memory/cgrouptest"),
            &none
        ));
        assert!(suite_cgroup(
            Path::new("/sys/fs/cgroup/pids/a/testdir/cgrouptest/container"),
            &none
        ));
        assert!(!suite_cgroup(
            Path::new("/sys/fs/cgroup/memory/process_api/9f11b5"),
            &none
        ));
        let uuid = "0b3c52a1-4c1e-4c6f-9d0e-2a6f1f5d3b7e";
        let other = "/sys/fs/cgroup/pids/1f3c52a1-4c1e-4c6f-9d0e-2a6f1f5d3b7e";
        assert!(suite_cgroup(Path::new(other), &none));
        let ids = Some(BTreeSet::from([uuid.to_owned()]));
        assert!(!suite_cgroup(Path::new(other), &ids));
        assert!(suite_cgroup(
            Path::new(&format!("/sys/fs/cgroup/pids/crun-{uuid}")),
            &ids
        ));
    }

    #[test]
    fn diff_matches_points_by_name() {
        let result = |name: &str, tap: &str| RuntimeResult {
            name: name.into(),
            version: String::new(),
            files: vec![FileResult {
                name: "kill".into(),
                tap: parse_tap(tap),
                end: End::Exit(0),
                secs: 0.0,
                why: None,
            }],
            minutes: 0.0,
            left: Vec::new(),
        };
        let a = result("runc", "ok 1 - x\nok 2 - y\nok 3 - y\nok 4 - z\n1..4\n");
        let b = result("step10", "ok 1 - x\nnot ok 2 - y\nok 3 - y\n1..4\n");
        assert_eq!(diff(&a, &b), ["kill: y: fails", "kill: z: never reached"]);
        assert!(diff(&b, &a).is_empty());
    }
}
