//! `cargo xtask soak [--full]`: nothing leaks, under load and under faults.
//!
//! Runs step08 (the last step: every earlier step's cleanup, and its own
//! overlay directories) many times (sequentially, then many at once, all with
//! `--network veth --memory 64m --pids 64`), sends it SIGINT, SIGTERM and
//! SIGKILL at random moments during setup and during the command, and feeds
//! it bad input; checks every exit code; and afterwards that nothing is left:
//! no cgroup of any of its runs, no new `wsv` link, the host's mount table
//! as before, no process of its runs, no temp file, no run directory in its
//! `--container-dir` (target/soak/containers).
//!
//! | form | sequential | concurrent | trials per fault |
//! |---|---|---|---|
//! | short (`.ci/run`) | 50 | 10 | 5 |
//! | `--full` | 500 | 50 | 20 |
//!
//! Leaks are told apart from other people's containers on the same host by
//! running a private copy of step08 (target/soak/step08-soak: every process
//! with that executable is ours) whose cgroups are named after its PIDs
//! (`ws-<PID>`), with TMPDIR pointing into target/soak/tmp.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

#[derive(clap::Args)]
pub struct Args {
    /// The full form: 500 sequential runs, 50 concurrent, 20 trials per fault.
    #[arg(long)]
    full: bool,
    /// Do not rebuild step08 first.
    #[arg(long)]
    no_build: bool,
}

/// The flags every run gets.
const LIMITS: [&str; 6] = ["--network", "veth", "--memory", "64m", "--pids", "64"];

/// A run's time limit: `sleep 5` plus generous setup and teardown.
const LIMIT: Duration = Duration::from_secs(30);

/// What the soak works with.
struct Soak {
    bin: PathBuf,
    rootfs: PathBuf,
    tmp: PathBuf,
    /// step08's `--container-dir`: each run's overlay directories.
    containers: PathBuf,
    /// PIDs of every runtime started, for their cgroups' names.
    pids: Vec<u32>,
    rng: u64,
}

/// One phase's figures.
struct Phase {
    name: String,
    runs: usize,
    failures: Vec<String>,
    wall: Duration,
    per_run: Vec<Duration>,
    /// Runs that died of the signal itself, before the runtime blocked it.
    killed_early: usize,
}

impl Phase {
    fn new(name: &str) -> Phase {
        Phase {
            name: name.into(),
            runs: 0,
            failures: Vec::new(),
            wall: Duration::ZERO,
            per_run: Vec::new(),
            killed_early: 0,
        }
    }
}

/// The outcome of one run.
struct Ran {
    pid: u32,
    code: i32,
    /// Killed by this signal rather than exiting.
    signal: Option<i32>,
    stderr: String,
    took: Duration,
}

impl Soak {
    /// A pseudo-random number in 0..n (xorshift; the seed is printed).
    fn below(&mut self, n: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % n
    }

    fn command(&self, extra: &[&str], argv: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        if !extra.contains(&"--rootfs") {
            cmd.arg("--rootfs").arg(&self.rootfs);
        }
        cmd.args(extra).args(argv);
        cmd.env_remove("WORKSHOP_ROOTFS")
            .env("TMPDIR", &self.tmp)
            .env("WORKSHOP_CONTAINER_DIR", &self.containers)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // The runs start with the default action for the signals the soak
        // sends, as from a terminal: a shell without job control starts a
        // background job (`.ci/run &`, say) with SIGINT and SIGQUIT ignored,
        // and a SIGINT landing before the runtime blocks it would then be
        // dropped, not the runtime's doing.
        // SAFETY: the closure runs in the forked child before exec and only
        // calls sigaction(2), which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                let default = nix::sys::signal::SigAction::new(
                    nix::sys::signal::SigHandler::SigDfl,
                    nix::sys::signal::SaFlags::empty(),
                    nix::sys::signal::SigSet::empty(),
                );
                for signal in [Signal::SIGINT, Signal::SIGQUIT, Signal::SIGTERM] {
                    nix::sys::signal::sigaction(signal, &default)?;
                }
                Ok(())
            });
        }
        cmd
    }

    fn spawn(&mut self, extra: &[&str], argv: &[&str]) -> anyhow::Result<Child> {
        let child = self
            .command(extra, argv)
            .spawn()
            .with_context(|| format!("start {}", self.bin.display()))?;
        self.pids.push(child.id());
        Ok(child)
    }

    fn finish(mut child: Child, started: Instant) -> anyhow::Result<Ran> {
        let pid = child.id();
        let (_, err) = testkit::run::drain(&mut child);
        let status = testkit::run::wait_limited(&mut child, LIMIT)
            .map_err(|e| anyhow::anyhow!("run {pid}: {e}"))?;
        Ok(Ran {
            pid,
            code: testkit::run::code(status),
            signal: status.signal(),
            stderr: err.join().unwrap_or_default(),
            took: started.elapsed(),
        })
    }
}

/// Checks one run against the exit code it must give.
fn check(phase: &mut Phase, ran: &Ran, want: i32) {
    phase.runs += 1;
    phase.per_run.push(ran.took);
    if let Some(sig) = ran.signal {
        phase.failures.push(format!(
            "run {} died of signal {sig} instead of exiting {want} (a runtime killed by a signal cleans nothing up)",
            ran.pid
        ));
    } else if ran.code != want {
        phase.failures.push(format!(
            "run {} exited {} instead of {want}: {}",
            ran.pid,
            ran.code,
            ran.stderr.trim()
        ));
    }
}

/// The cgroup leaves of runtime `pid` that exist.
fn leaves_of(pid: u32) -> Vec<PathBuf> {
    let name = format!("ws-{pid}");
    testkit::host::workshop_cgroups()
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == name.as_str()))
        .collect()
}

/// Waits until runtime `pid`'s container holds init and the command (two
/// processes in its pids cgroup), or until `limit`.
fn wait_running(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        let populated = leaves_of(pid).iter().any(|l| {
            std::fs::read_to_string(l.join("cgroup.procs"))
                .is_ok_and(|s| s.lines().filter(|l| !l.trim().is_empty()).count() >= 2)
        });
        if populated {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

fn wsv_links() -> BTreeSet<String> {
    testkit::host::links()
        .into_iter()
        .filter(|n| n.starts_with("wsv"))
        .collect()
}

/// Processes whose executable is our private copy.
fn our_processes(bin: &Path) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e == bin))
        .collect()
}

fn percentile(samples: &[Duration], q: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut s = samples.to_vec();
    s.sort();
    s[((s.len() as f64 - 1.0) * q).round() as usize]
}

/// `cargo xtask soak`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("the soak test runs containers: run it as root");
    }
    let (sequential, concurrent, trials) = if args.full {
        (500, 50, 20)
    } else {
        (50, 10, 5)
    };
    let root = crate::workspace_root();
    if !args.no_build {
        let ok = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-p", "step08", "-p", "reset"])
            .current_dir(&root)
            .status()?
            .success();
        if !ok {
            bail!("cargo build -p step08 failed");
        }
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(d) => root.join(d),
        None => root.join("target"),
    };
    let work = target.join("soak");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    let tmp = work.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let containers = work.join("containers");
    let bin = work.join("step08-soak");
    std::fs::copy(target.join("debug/step08"), &bin).context("copy step08")?;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut soak = Soak {
        bin: bin.clone(),
        rootfs: testkit::rootfs::busybox_rootfs()?,
        tmp: tmp.clone(),
        containers: containers.clone(),
        pids: Vec::new(),
        rng: seed,
    };
    println!(
        "soak: {} form, seed {seed}: {sequential} sequential, {concurrent} concurrent, {trials} trials per fault",
        if args.full { "full" } else { "short" }
    );

    let mounts_before = testkit::host::mounts();
    let links_before = wsv_links();
    let mut phases = Vec::new();

    // 1. Sequential runs: the exit code is the command's.
    let mut phase = Phase::new("sequential");
    let started = Instant::now();
    for i in 0..sequential {
        let want: i32 = i % 7;
        let t = Instant::now();
        let child = soak.spawn(&LIMITS, &["/bin/sh", "-c", &format!("exit {want}")])?;
        let ran = Soak::finish(child, t)?;
        check(&mut phase, &ran, want);
    }
    phase.wall = started.elapsed();
    phases.push(phase);

    // 2. Concurrent runs: all started at once.
    let mut phase = Phase::new("concurrent");
    let started = Instant::now();
    let mut children = Vec::new();
    for i in 0..concurrent {
        let want: i32 = i % 7;
        let argv = ["/bin/sh", "-c", &format!("sleep 0.2; exit {want}")];
        children.push((soak.spawn(&LIMITS, &argv)?, want, Instant::now()));
    }
    for (child, want, t) in children {
        let ran = Soak::finish(child, t)?;
        check(&mut phase, &ran, want);
    }
    phase.wall = started.elapsed();
    phases.push(phase);

    // 3. Signals during setup and during the command.
    for (signal, want) in [(Signal::SIGINT, 130), (Signal::SIGTERM, 143)] {
        for during in ["setup", "command"] {
            let mut phase = Phase::new(&format!("{} during {during}", signal.as_str()));
            let started = Instant::now();
            for _ in 0..trials {
                let t = Instant::now();
                let child = soak.spawn(&LIMITS, &["sleep", "5"])?;
                let pid = child.id();
                if during == "command" && !wait_running(pid, Duration::from_secs(10)) {
                    phase
                        .failures
                        .push(format!("run {pid}: the container never started"));
                }
                std::thread::sleep(Duration::from_millis(soak.below(31)));
                kill(Pid::from_raw(pid as i32), signal)?;
                let ran = Soak::finish(child, t)?;
                if ran.signal == Some(signal as i32) {
                    // Killed before it blocked the signal: the shell still
                    // sees 128+N, and that is fine as long as it had created
                    // nothing yet.
                    phase.runs += 1;
                    phase.per_run.push(ran.took);
                    phase.killed_early += 1;
                    let left = leaves_of(pid);
                    if !left.is_empty() {
                        phase.failures.push(format!(
                            "run {pid} died of {} with its cgroup already made (left {left:?}): \
                             the runtime creates the cgroup before it blocks the signals",
                            signal.as_str()
                        ));
                    }
                } else {
                    check(&mut phase, &ran, want);
                }
                if ran.took > Duration::from_secs(4) {
                    phase.failures.push(format!(
                        "run {pid}: `sleep 5` was not stopped by {} (took {:?})",
                        signal.as_str(),
                        ran.took
                    ));
                }
            }
            phase.wall = started.elapsed();
            phases.push(phase);
        }
    }

    // 4. SIGKILL: the container dies with its runtime (PR_SET_PDEATHSIG);
    // the cgroup directory nobody removed goes at the next run's sweep.
    let mut phase = Phase::new("SIGKILL during command");
    let started = Instant::now();
    for _ in 0..trials {
        let t = Instant::now();
        let child = soak.spawn(&LIMITS, &["sleep", "5"])?;
        let pid = child.id();
        if !wait_running(pid, Duration::from_secs(10)) {
            phase
                .failures
                .push(format!("run {pid}: the container never started"));
        }
        std::thread::sleep(Duration::from_millis(soak.below(31)));
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL)?;
        let ran = Soak::finish(child, t)?;
        phase.runs += 1;
        phase.per_run.push(ran.took);
        if ran.signal != Some(libc::SIGKILL) {
            phase
                .failures
                .push(format!("run {pid} was not killed: exit {}", ran.code));
        }
        // The container's processes must be gone within a moment.
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut left: Vec<u32> = our_processes(&soak.bin);
        let busy = |pid: u32| {
            leaves_of(pid).iter().any(|l| {
                std::fs::read_to_string(l.join("cgroup.procs")).is_ok_and(|s| !s.trim().is_empty())
            })
        };
        while (busy(pid) || !left.is_empty()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            left = our_processes(&soak.bin);
        }
        if busy(pid) || !left.is_empty() {
            phase.failures.push(format!(
                "run {pid}: its container outlived the SIGKILLed runtime (processes {left:?})"
            ));
        }
        if leaves_of(pid).is_empty() {
            phase.failures.push(format!(
                "run {pid}: no leftover cgroup after SIGKILL (expected one for the sweep to find)"
            ));
        }
        // step08 makes its run directory before the cgroup: it is left too.
        if !soak.containers.join(format!("ws-{pid}")).is_dir() {
            phase.failures.push(format!(
                "run {pid}: no leftover ws-{pid} in the container directory after SIGKILL \
                 (expected one for the sweep to find)"
            ));
        }
    }
    // The next run sweeps the leftovers.
    let t = Instant::now();
    let child = soak.spawn(&LIMITS, &["true"])?;
    let ran = Soak::finish(child, t)?;
    check(&mut phase, &ran, 0);
    phase.wall = started.elapsed();
    phases.push(phase);

    // 5. Bad input: exit 125, one line, nothing created.
    let mut phase = Phase::new("bad input");
    let started = Instant::now();
    let bad = tempfile::Builder::new()
        .prefix("soak-bad-")
        .tempdir_in(&work)?;
    let file = bad.path().join("a-file");
    std::fs::write(&file, "not a directory")?;
    let empty = bad.path().join("empty");
    std::fs::create_dir(&empty)?;
    let dangling = bad.path().join("dangling");
    std::os::unix::fs::symlink(bad.path().join("nowhere"), &dangling)?;
    let long = "h".repeat(65);
    let cases: Vec<(String, Vec<String>)> = vec![
        (
            "rootfs is a file".into(),
            vec!["--rootfs".into(), file.display().to_string()],
        ),
        (
            "rootfs is empty".into(),
            vec!["--rootfs".into(), empty.display().to_string()],
        ),
        (
            "rootfs is a dangling link".into(),
            vec!["--rootfs".into(), dangling.display().to_string()],
        ),
        ("--memory 0".into(), vec!["--memory".into(), "0".into()]),
        (
            "--memory 10zz".into(),
            vec!["--memory".into(), "10zz".into()],
        ),
        ("--cpus -1".into(), vec!["--cpus=-1".into()]),
        ("--pids 0".into(), vec!["--pids".into(), "0".into()]),
        (
            "unknown capability".into(),
            vec!["--cap-add".into(), "CAP_NOPE".into()],
        ),
        (
            "hostname of 65 bytes".into(),
            vec!["--hostname".into(), long],
        ),
    ];
    for (what, flags) in &cases {
        let t = Instant::now();
        // A --rootfs here replaces the good one (see `command`).
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let child = soak.spawn(&flags, &["true"])?;
        let ran = Soak::finish(child, t)?;
        check(&mut phase, &ran, 125);
        let lines: Vec<&str> = ran
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        if lines.len() != 1 {
            phase.failures.push(format!(
                "{what}: {} lines on stderr, not one: {:?}",
                lines.len(),
                lines
            ));
        }
        if !leaves_of(ran.pid).is_empty() {
            phase.failures.push(format!(
                "{what}: a cgroup was created: {:?}",
                leaves_of(ran.pid)
            ));
        }
        println!(
            "  {what:<24} exit {}  {}",
            ran.code,
            lines.first().unwrap_or(&"")
        );
    }
    phase.wall = started.elapsed();
    phases.push(phase);
    drop(bad);

    // 6. Afterwards: nothing of any of these runs is left.
    let mut leaks = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        leaks.clear();
        let cgroups: Vec<PathBuf> = soak.pids.iter().flat_map(|p| leaves_of(*p)).collect();
        if !cgroups.is_empty() {
            leaks.push(format!("cgroups: {cgroups:?}"));
        }
        let new_links: Vec<String> = wsv_links().difference(&links_before).cloned().collect();
        // Other people's containers may own new links; ours would be gone
        // within the deadline, theirs are told apart by their runtimes.
        if !new_links.is_empty() && our_processes(&soak.bin).is_empty() && !others_running() {
            leaks.push(format!("links: {new_links:?}"));
        }
        let mounts_after = testkit::host::mounts();
        if mounts_after != mounts_before {
            let diff: Vec<&String> = mounts_after.symmetric_difference(&mounts_before).collect();
            leaks.push(format!("mounts: {diff:?}"));
        }
        let procs = our_processes(&soak.bin);
        if !procs.is_empty() {
            leaks.push(format!("processes: {procs:?}"));
        }
        let children = testkit::host::children_of(std::process::id());
        if !children.is_empty() {
            leaks.push(format!("children of xtask: {children:?}"));
        }
        let temp: Vec<String> = std::fs::read_dir(&tmp)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if !temp.is_empty() {
            leaks.push(format!("temp files in TMPDIR: {temp:?}"));
        }
        let runs: Vec<String> = std::fs::read_dir(&containers)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if !runs.is_empty() {
            leaks.push(format!(
                "run directories in {}: {runs:?}",
                containers.display()
            ));
        }
        if leaks.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    // The figures.
    let mut table = String::new();
    let _ = writeln!(
        table,
        "\n| phase | runs | failures | died of the signal | wall | p50 per run | p95 per run |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for p in &phases {
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {:.1} s | {:.0} ms | {:.0} ms |",
            p.name,
            p.runs,
            p.failures.len(),
            p.killed_early,
            p.wall.as_secs_f64(),
            percentile(&p.per_run, 0.5).as_secs_f64() * 1000.0,
            percentile(&p.per_run, 0.95).as_secs_f64() * 1000.0
        );
    }
    println!("{table}");
    let failures: Vec<&String> = phases.iter().flat_map(|p| &p.failures).collect();
    for f in &failures {
        eprintln!("soak: {f}");
    }
    for l in &leaks {
        eprintln!("soak: LEAK: {l}");
    }
    if failures.is_empty() && leaks.is_empty() {
        println!(
            "soak: {} runs, every exit code as expected; no cgroup, link, mount, process, temp file or run directory left",
            phases.iter().map(|p| p.runs).sum::<usize>()
        );
        let _ = std::fs::remove_dir_all(&work);
        Ok(())
    } else {
        bail!(
            "soak: {} failure(s), {} leak(s)",
            failures.len(),
            leaks.len()
        )
    }
}

/// Is any other workshop runtime running (someone else's test)?
fn others_running() -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .any(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| {
                e.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("step0") || n.starts_with("ex0"))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        let s = ms(&[5, 1, 4, 2, 3]);
        assert_eq!(percentile(&s, 0.5), Duration::from_millis(3));
        assert_eq!(percentile(&s, 0.95), Duration::from_millis(5));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn a_run_killed_by_a_signal_fails_even_with_the_right_code() {
        let mut phase = Phase::new("t");
        let ran = Ran {
            pid: 1,
            code: 130,
            signal: Some(2),
            stderr: String::new(),
            took: Duration::ZERO,
        };
        check(&mut phase, &ran, 130);
        assert_eq!(phase.failures.len(), 1, "{:?}", phase.failures);
        let ran = Ran {
            signal: None,
            ..ran
        };
        check(&mut phase, &ran, 130);
        assert_eq!(phase.failures.len(), 1);
        assert_eq!(phase.runs, 2);
    }
}
