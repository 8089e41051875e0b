//! `cargo xtask bench`: how fast a container starts, against crun and runc,
//! measured honestly.
//!
//! - Every runtime runs the same busybox rootfs and `/bin/true`, with a
//!   network namespace and memory + pids limits where it has them.
//! - The runtimes are **alternated** run by run (A B C A B C ...), so a slow
//!   moment of the machine hits all of them alike; hyperfine would run each
//!   command's batch in one go.
//! - crun 1.8.1 refuses hybrid cgroup hosts ("cgroups in hybrid mode not
//!   supported"). On such a host the whole benchmark runs in a private mount
//!   namespace in which the cgroup2 mount at /sys/fs/cgroup/unified is
//!   covered by an empty tmpfs, for every runtime alike; the output says so.
//! - It installs nothing: crun, runc (Debian's packages) and tar are used when
//!   present, and their rows are left out, with the reason, when not.
//! - A breakdown of step06's own time comes from its `--explain` timestamps.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Measured runs per runtime (after 5 warm-up runs each).
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Runs of `step06 -x` for the breakdown.
    #[arg(long, default_value_t = 100)]
    breakdown_runs: usize,
    /// Runs of each unpacker (rootfs-fetcher --from-file and tar xzf).
    #[arg(long, default_value_t = 40)]
    unpack_runs: usize,
    /// Also write the tables as Markdown for the book's appendix.
    #[arg(long)]
    write_book: bool,
}

/// One command under measurement.
struct Contender {
    name: String,
    argv: Vec<String>,
}

/// Durations in milliseconds, and what they say.
struct Stats {
    median: f64,
    p95: f64,
    min: f64,
    max: f64,
}

fn stats(samples: &[f64]) -> Stats {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let at = |q: f64| s[((s.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        median: at(0.5),
        p95: at(0.95),
        min: s[0],
        max: s[s.len() - 1],
    }
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("the benchmark starts containers and must run as root: sudo -E cargo xtask bench");
    }
    let root = crate::workspace_root();
    let mut report = String::new();

    eprintln!("bench: building step04, step06, step07 and rootfs-fetcher (release)");
    let status = Command::new("cargo")
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "step04",
            "-p",
            "step06",
            "-p",
            "step07",
            "-p",
            "rootfs-fetcher",
        ])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    let release = root.join("target/release");
    let rootfs = testkit::rootfs::busybox_rootfs()?;
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work)?;

    let note = enter_private_cgroup_view()?;
    writeln!(report, "Machine: {} CPUs, kernel {}", nproc(), kernel())?;
    writeln!(report, "{note}")?;

    // The contenders, all running /bin/true in the same busybox rootfs.
    let r = rootfs.display().to_string();
    let step = |bin: &str, extra: &[&str]| -> Vec<String> {
        let mut argv = vec![
            release.join(bin).display().to_string(),
            "--rootfs".into(),
            r.clone(),
        ];
        argv.extend(extra.iter().map(|s| s.to_string()));
        argv.push("/bin/true".into());
        argv
    };
    let mut contenders = Vec::new();
    let mut missing = Vec::new();
    match oci_bundle(&work, &rootfs) {
        Ok(bundle) => {
            let b = bundle.display().to_string();
            for (tool, argv) in [
                (
                    "crun",
                    vec![
                        "crun",
                        "--cgroup-manager=cgroupfs",
                        "run",
                        "--bundle",
                        &b,
                        "bench-crun",
                    ],
                ),
                ("runc", vec!["runc", "run", "--bundle", &b, "bench-runc"]),
            ] {
                if which(tool) {
                    contenders.push(Contender {
                        name: format!("{tool} (netns, memory+pids)"),
                        argv: argv.iter().map(|s| s.to_string()).collect(),
                    });
                } else {
                    missing.push(format!("{tool}: not installed (apt-get install {tool})"));
                }
            }
        }
        Err(e) => missing.push(format!("crun/runc: no OCI bundle ({e:#})")),
    }
    contenders.push(Contender {
        name: "unshare+chroot (no limits)".into(),
        argv: [
            "unshare",
            "--uts",
            "--pid",
            "--fork",
            "--mount",
            "--net",
            "--ipc",
            "chroot",
            &r,
            "/bin/true",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    });
    contenders.push(Contender {
        name: "step06 --network none, memory+pids".into(),
        argv: step(
            "step06",
            &["--network", "none", "--memory", "64m", "--pids", "64"],
        ),
    });
    contenders.push(Contender {
        name: "step06 --network veth, memory+pids".into(),
        argv: step(
            "step06",
            &["--network", "veth", "--memory", "64m", "--pids", "64"],
        ),
    });
    contenders.push(Contender {
        name: "step07 --network veth, memory+pids".into(),
        argv: step(
            "step07",
            &["--network", "veth", "--memory", "64m", "--pids", "64"],
        ),
    });
    contenders.push(Contender {
        name: "step04 --network veth".into(),
        argv: step("step04", &["--network", "veth"]),
    });
    for m in &missing {
        writeln!(report, "left out: {m}")?;
    }

    eprintln!(
        "bench: {} runtimes × {} runs, alternated",
        contenders.len(),
        args.runs
    );
    let samples = alternate(&contenders, args.runs)?;
    writeln!(
        report,
        "\nStarting a container that runs /bin/true ({} runs each, alternated):\n",
        args.runs
    )?;
    report.push_str(&table(&contenders, &samples, "crun"));

    eprintln!("bench: the seccomp filter's cost per syscall");
    report.push_str(&syscall_cost(&release)?);

    eprintln!("bench: unpacking, {} runs each", args.unpack_runs);
    report.push_str(&unpack_bench(&release, &work, args.unpack_runs)?);

    eprintln!("bench: step06 breakdown, {} runs", args.breakdown_runs);
    report.push_str(&breakdown(
        &step(
            "step06",
            &["-x", "--network", "veth", "--memory", "64m", "--pids", "64"],
        ),
        args.breakdown_runs,
    )?);

    println!("{report}");
    if args.write_book {
        let out = root.join("book/src/generated/bench.md");
        std::fs::create_dir_all(out.parent().unwrap_or(&root))?;
        std::fs::write(&out, format!("```text\n{report}```\n"))?;
        eprintln!("bench: wrote {}", out.display());
    }
    Ok(())
}

/// The filter's cost per syscall: the probe times getppid and
/// personality(0xffffffff) inside step06 (no filter), step07 unconfined and
/// step07 with Docker's profile, three runs each, alternated, best kept.
fn syscall_cost(release: &Path) -> anyhow::Result<String> {
    const CALLS: &str = "1000000";
    let probe = crate::escape::probe_binary()?;
    let rootfs = crate::escape::private_rootfs(&probe)?;
    let r = rootfs.display().to_string();
    let configs: [(&str, &str, &[&str]); 3] = [
        ("step06 (no filter)", "step06", &[]),
        (
            "step07 --security-opt seccomp=unconfined",
            "step07",
            &["--security-opt", "seccomp=unconfined"],
        ),
        ("step07 (Docker's profile)", "step07", &[]),
    ];
    // best[config] = (getppid, personality) in ns
    let mut best = [(f64::INFINITY, f64::INFINITY); 3];
    for _ in 0..3 {
        for (i, (name, bin, extra)) in configs.iter().enumerate() {
            let out = Command::new(release.join(bin))
                .args(["--rootfs", &r, "--network", "none"])
                .args(*extra)
                .args(["/probe", "syscall-cost", CALLS])
                .stdin(Stdio::null())
                .output()
                .with_context(|| format!("starting {bin}"))?;
            if !out.status.success() {
                bail!(
                    "{name}: probe syscall-cost failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let value = |key: &str| -> anyhow::Result<f64> {
                text.lines()
                    .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
                    .with_context(|| format!("{name}: no {key} in {text:?}"))
            };
            best[i].0 = best[i].0.min(value("getppid ")?);
            best[i].1 = best[i].1.min(value("personality ")?);
        }
    }
    let mut out = format!(
        "\nOne syscall inside the container, ns per call (best of 3 runs × 5 rounds of {CALLS} calls):\n\n\
         {:<42} {:>9} {:>17}\n",
        "", "getppid", "personality(-1)"
    );
    for ((name, _, _), (g, p)) in configs.iter().zip(best) {
        out.push_str(&format!("{name:<42} {g:>9.1} {p:>17.1}\n"));
    }
    let (base, filtered) = (best[1], best[2]);
    out.push_str(&format!(
        "{:<42} {:>+9.1} {:>+17.1}\n",
        "the filter's cost (step07 − unconfined)",
        filtered.0 - base.0,
        filtered.1 - base.1
    ));
    out.push_str(
        "getppid is allowed whatever its arguments, so the kernel's seccomp cache (5.11+) answers \
         without running the filter:\nits cost is that of the slower syscall entry any filter \
         brings. personality has argument rules,\nso the filter runs on every call, walking the \
         syscall blocks before personality's.\n",
    );
    Ok(out)
}

/// On a hybrid host, covers /sys/fs/cgroup/unified with an empty tmpfs in a
/// private mount namespace of this process (and so of every runtime it
/// starts): crun refuses to run otherwise.
pub(crate) fn enter_private_cgroup_view() -> anyhow::Result<String> {
    let unified = Path::new("/sys/fs/cgroup/unified");
    let is_cgroup2 = nix::sys::statfs::statfs(unified)
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false);
    if !is_cgroup2 {
        return Ok("cgroups: as the host has them (no hybrid workaround needed)".into());
    }
    unshare(CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS)")?;
    step02::pid::make_mounts_private()?;
    mount(
        Some("tmpfs"),
        unified,
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .context("mount(tmpfs, /sys/fs/cgroup/unified)")?;
    Ok("cgroups: hybrid host. crun 1.8.1 refuses hybrid hosts, so every runtime ran in a private mount \
        namespace in which /sys/fs/cgroup/unified (cgroup2) is covered by an empty tmpfs: all of them \
        used the v1 controllers."
        .into())
}

/// An OCI bundle for crun and runc: their own default spec, with /bin/true,
/// no terminal, and the same limits as the steps get (64 MiB, 64 pids).
fn oci_bundle(work: &Path, rootfs: &Path) -> anyhow::Result<PathBuf> {
    let bundle = work.join("bundle");
    let _ = std::fs::remove_dir_all(&bundle);
    std::fs::create_dir_all(&bundle)?;
    let tool = ["crun", "runc"]
        .into_iter()
        .find(|t| which(t))
        .context("neither crun nor runc is installed")?;
    let ok = Command::new(tool)
        .arg("spec")
        .current_dir(&bundle)
        .status()?
        .success();
    if !ok {
        bail!("{tool} spec failed");
    }
    let path = bundle.join("config.json");
    let mut spec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!(["/bin/true"]);
    spec["root"] = serde_json::json!({ "path": rootfs, "readonly": false });
    spec["linux"]["resources"] = serde_json::json!({
        "memory": { "limit": 64 * 1024 * 1024 },
        "pids": { "limit": 64 }
    });
    std::fs::write(&path, serde_json::to_string_pretty(&spec)?)?;
    Ok(bundle)
}

/// Runs the contenders in turn, `runs` times each after 5 warm-ups; returns
/// each one's wall times in ms.
fn alternate(contenders: &[Contender], runs: usize) -> anyhow::Result<Vec<Vec<f64>>> {
    let mut samples = vec![Vec::with_capacity(runs); contenders.len()];
    for round in 0..runs + 5 {
        for (i, c) in contenders.iter().enumerate() {
            let started = Instant::now();
            let status = Command::new(&c.argv[0])
                .args(&c.argv[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .with_context(|| format!("starting {}", c.argv[0]))?;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            if !status.success() {
                bail!("{} failed ({status}): {}", c.name, c.argv.join(" "));
            }
            if round >= 5 {
                samples[i].push(ms);
            }
        }
    }
    Ok(samples)
}

fn table(contenders: &[Contender], samples: &[Vec<f64>], baseline: &str) -> String {
    let base = contenders
        .iter()
        .position(|c| c.name.starts_with(baseline))
        .map(|i| stats(&samples[i]).median);
    let mut out = format!(
        "{:<38} {:>8} {:>8} {:>8} {:>8} {:>9}\n",
        "runtime",
        "median",
        "p95",
        "min",
        "max",
        format!("÷{baseline}")
    );
    for (c, s) in contenders.iter().zip(samples) {
        let st = stats(s);
        let ratio = base
            .map(|b| format!("{:.2}×", st.median / b))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<38} {:>6.2}ms {:>6.2}ms {:>6.2}ms {:>6.2}ms {:>9}",
            c.name, st.median, st.p95, st.min, st.max, ratio
        );
    }
    out
}

/// rootfs-fetcher --from-file against tar xzf, on the same tarball, each
/// into a fresh directory.
fn unpack_bench(release: &Path, work: &Path, runs: usize) -> anyhow::Result<String> {
    let tarball = testkit::rootfs::busybox_tarball()?;
    let sum = testkit::rootfs::sha512_file(&tarball)?;
    let dest = work.join("unpack");
    let t = tarball.display().to_string();
    let d = dest.display().to_string();
    let fetcher = release.join("rootfs-fetcher").display().to_string();
    let contenders = [
        Contender {
            name: "tar xzf".into(),
            argv: vec![
                "tar".into(),
                "xzf".into(),
                t.clone(),
                "-C".into(),
                d.clone(),
            ],
        },
        Contender {
            name: "rootfs-fetcher --from-file".into(),
            argv: vec![
                fetcher,
                "--from-file".into(),
                t,
                "--sha512".into(),
                sum,
                "--dest".into(),
                d.clone(),
            ],
        },
    ];
    let mut samples = vec![Vec::new(), Vec::new()];
    for round in 0..runs + 3 {
        for (i, c) in contenders.iter().enumerate() {
            let _ = std::fs::remove_dir_all(&dest);
            if i == 0 {
                std::fs::create_dir_all(&dest)?;
            }
            let started = Instant::now();
            let status = Command::new(&c.argv[0])
                .args(&c.argv[1..])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            if !status.success() {
                bail!("{} failed: {}", c.name, c.argv.join(" "));
            }
            if round >= 3 {
                samples[i].push(ms);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dest);
    Ok(format!(
        "\nUnpacking the busybox rootfs tarball ({} KiB, {runs} runs each, alternated):\n\n{}",
        std::fs::metadata(&tarball)?.len() / 1024,
        table(&contenders, &samples, "tar")
    ))
}

/// Where step06's time goes, from its `--explain` timestamps: each line is
/// printed right after its call returns, so a call's cost is the time since
/// the previous line of the same process.
fn breakdown(argv: &[String], runs: usize) -> anyhow::Result<String> {
    let mut phases: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut procs_writes = Vec::new();
    let mut totals = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .output()?;
        let wall = started.elapsed().as_secs_f64() * 1e3;
        if !out.status.success() {
            bail!("step06 -x failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        totals.push(wall);
        let mut last: BTreeMap<String, f64> = BTreeMap::new();
        let mut run_phases: BTreeMap<&'static str, f64> = BTreeMap::new();
        let mut last_any = 0.0;
        for line in String::from_utf8_lossy(&out.stderr).lines() {
            let Some((ts, role, call)) = parse_line(line) else {
                continue;
            };
            // A child's first line follows the parent's clone3 / init's fork.
            let prev = last.get(role).copied().unwrap_or_else(|| match role {
                "init" => last.get("parent").copied().unwrap_or(0.0),
                "cmd" => last.get("init").copied().unwrap_or(0.0),
                _ => 0.0,
            });
            let cost = (ts - prev).max(0.0);
            last.insert(role.to_owned(), ts);
            last_any = f64::max(last_any, ts);
            let phase = phase_of(role, call, &last);
            *run_phases.entry(phase).or_default() += cost;
            if call.starts_with("write(") && call.contains("cgroup.procs") {
                procs_writes.push(cost);
            }
        }
        *run_phases
            .entry("parent: exit after the last line")
            .or_default() += (wall - last_any).max(0.0);
        for (k, v) in run_phases {
            phases.entry(k).or_default().push(v);
        }
    }
    let total = stats(&totals).median;
    let mut out = format!(
        "\nWhere step06's time goes (--network veth --memory 64m --pids 64, {runs} runs of -x; median ms per phase,\n\
         the parent's and the child's phases overlap only while the parent waits):\n\n"
    );
    let mut rows: Vec<(&str, Stats)> = phases.iter().map(|(k, v)| (*k, stats(v))).collect();
    rows.sort_by(|a, b| b.1.median.total_cmp(&a.1.median));
    for (name, st) in rows {
        let _ = writeln!(
            out,
            "  {name:<48} {:>7.3} ms  (p95 {:>7.3})  {:>5.1}%",
            st.median,
            st.p95,
            100.0 * st.median / total
        );
    }
    let _ = writeln!(
        out,
        "  {:<48} {:>7.3} ms",
        "total wall time (median, with -x)", total
    );
    if !procs_writes.is_empty() {
        let st = stats(&procs_writes);
        let slow = procs_writes.iter().filter(|&&v| v > 5.0).count();
        let _ = writeln!(
            out,
            "\n  writes to cgroup.procs (v1 attach): {} writes, median {:.3} ms, p95 {:.3} ms, max {:.3} ms, {} over 5 ms",
            procs_writes.len(),
            st.median,
            st.p95,
            st.max,
            slow
        );
    }
    Ok(out)
}

/// `step06 +1.234ms init   mount(...) = 0` → (1.234, "init", "mount(...) = 0").
fn parse_line(line: &str) -> Option<(f64, &str, &str)> {
    let mut parts = line.splitn(3, ' ');
    let _program = parts.next()?;
    let ts = parts
        .next()?
        .strip_prefix('+')?
        .strip_suffix("ms")?
        .parse()
        .ok()?;
    let rest = parts.next()?.trim_start();
    let (role, call) = rest.split_once(' ')?;
    Some((ts, role, call.trim_start()))
}

/// Which phase a narrated call belongs to.
fn phase_of(role: &str, call: &str, seen: &BTreeMap<String, f64>) -> &'static str {
    let name = call.split('(').next().unwrap_or("");
    let cgroup_file = call.contains("/sys/fs/cgroup");
    match role {
        "parent" if name == "clone3" => "parent: clone3 (new namespaces)",
        "parent" if cgroup_file && call.contains("cgroup.procs") => {
            "parent: cgroup attach (cgroup.procs)"
        }
        "parent" if cgroup_file || name == "statfs" => {
            if seen.contains_key("init") {
                "parent: cgroup read + removal"
            } else {
                "parent: cgroup creation + limits"
            }
        }
        "parent" if call.starts_with("netlink") => {
            if seen.contains_key("cmd") {
                "parent: veth teardown wait"
            } else {
                "parent: veth pair + host address"
            }
        }
        "parent" if name == "sigwait" || name == "waitpid" => "parent: waiting for the container",
        "parent" => "parent: other (signals, pipe)",
        "init" if call.starts_with("netlink") => "init: network inside (lo, eth0, route)",
        "init" if name == "sethostname" => "init: hostname",
        "init"
            if matches!(
                name,
                "mount"
                    | "umount2"
                    | "pivot_root"
                    | "chdir"
                    | "mknod"
                    | "symlink"
                    | "mkdir"
                    | "write"
                    | "open"
            ) =>
        {
            "init: mounts (pivot_root, /proc, /dev, /sys, /etc)"
        }
        "init" if name == "fork" => "init: fork the command",
        "init" if name == "read" => "init: waiting for the parent's go (sync pipe)",
        "init" => "init: other (pdeathsig, sync, reaping)",
        "cmd" if matches!(name, "prctl" | "capset") => "cmd: capabilities + no_new_privs",
        "cmd" => "cmd: close_range + execvp",
        _ => "other",
    }
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn nproc() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_narration_lines() {
        let (ts, role, call) =
            parse_line("step06 +1.234ms init   pivot_root(\".\", \".\") = 0").unwrap();
        assert_eq!(
            (ts, role, call),
            (1.234, "init", "pivot_root(\".\", \".\") = 0")
        );
        assert!(parse_line("hello").is_none());
    }

    #[test]
    fn quantiles() {
        let s = stats(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 5.0));
    }
}
