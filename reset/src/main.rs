//! `reset`: removes every leftover of the workshop from the host, and only
//! those.
//!
//! A run of a step cleans up after itself, on success, on failure and on
//! Ctrl-C. Only SIGKILL (or a crash of the machine's power) can leave
//! something behind, and then it is one of:
//!
//! - a cgroup leaf `contain-rs-workshop/ws-<PID>` whose runtime PID is gone
//!   (the next run of step05/06 sweeps those too, `sweep_stale`);
//! - a host link `wsv<N>` whose container's network namespace is kept alive
//!   by something else;
//! - a container process whose runtime is gone. PR_SET_PDEATHSIG kills the
//!   container's init when its runtime dies, so this "cannot happen"; reset
//!   still looks.
//!
//! What reset removes, conservatively:
//!
//! - **processes**: those whose executable is a workshop runtime (`stepNN`,
//!   `exNN`, `exNN-solution`), that live in another PID namespace than ours
//!   (so they are a container's init, not a runtime), and whose parent is not
//!   a workshop runtime (so nobody is supervising them). SIGKILL.
//! - **cgroups**: leaves whose runtime PID is gone (step05's `sweep_stale`);
//!   the `contain-rs-workshop` parents too when no workshop runtime runs.
//! - **links**: every `wsv<digits>` link (step04's `net::reset`), but only
//!   when no workshop runtime runs: a running container's link is not a
//!   leftover, and a link cannot be told from its owner's PID.
//!
//! `--all` removes everything of the workshop, running containers included
//! (step05's `cgroup::reset` kills what is in the leaves), for a classroom
//! machine between sessions. `--dry-run` prints what would go.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use step05::cgroup::{self, DEFAULT_ROOT, Mode, PARENT};

#[derive(Parser, Debug)]
#[command(
    name = "reset",
    version,
    about = "Remove every leftover of the workshop from this host (stale cgroups, wsv links, orphaned containers), and only those",
    after_help = "Examples:\n  cargo run -p reset -- --dry-run    # what would go\n  cargo run -p reset                # remove the leftovers\n  cargo run -p reset -- --all       # and stop every running workshop container"
)]
struct Args {
    /// Print what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also remove what belongs to running containers (their cgroups, links, processes).
    #[arg(long)]
    all: bool,
}

/// What reset knows of a process.
#[derive(Debug, Clone, PartialEq)]
struct Proc {
    pid: u32,
    ppid: u32,
    /// The executable's file name (without " (deleted)").
    exe: String,
    /// The target of /proc/PID/ns/pid.
    pidns: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => {}
        Err(err) => {
            eprintln!("reset: {err:#}");
            std::process::exit(1);
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        anyhow::bail!("removing cgroups and links needs root: run `sudo -E cargo run -p reset`");
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut count = 0;
    let own_ns = std::fs::read_link("/proc/self/ns/pid").ok();
    let procs = processes();

    // 1. Orphaned containers.
    for p in strays(&procs, own_ns.as_ref()) {
        if !args.dry_run {
            // ESRCH: it died meanwhile, which is what we wanted.
            let _ = kill(Pid::from_raw(p.pid as i32), Signal::SIGKILL);
        }
        let what = if args.dry_run { "would kill" } else { "killed" };
        println!(
            "{what} process {} ({}): a container whose runtime is gone",
            p.pid, p.exe
        );
        count += 1;
    }

    let me = std::process::id();
    let running: Vec<&Proc> = runtimes(&procs, own_ns.as_ref(), me);
    let root = Path::new(DEFAULT_ROOT);
    let mode = cgroup::detect(root).context("cgroup mode of /sys/fs/cgroup")?;

    // 2. Cgroups.
    let removed: Vec<PathBuf> = if args.all {
        if args.dry_run {
            let mut all = Vec::new();
            for parent in parents(root, mode) {
                all.extend(subdirs(&parent));
                all.push(parent);
            }
            all
        } else {
            cgroup::reset(root).context("remove the workshop's cgroups")?
        }
    } else {
        let stale: Vec<PathBuf> = if args.dry_run {
            parents(root, mode)
                .iter()
                .flat_map(|p| subdirs(p))
                .filter(|leaf| owner_gone(leaf))
                .collect()
        } else {
            cgroup::sweep_stale(root, mode)
        };
        let mut out = stale;
        if running.is_empty() {
            for parent in parents(root, mode) {
                let empty = subdirs(&parent).iter().all(|l| out.contains(l));
                if !empty {
                    continue;
                }
                if args.dry_run || std::fs::remove_dir(&parent).is_ok() {
                    out.push(parent);
                }
            }
        }
        out
    };
    for path in &removed {
        println!("{verb} cgroup {}", path.display());
    }
    count += removed.len();

    // 3. Links.
    if args.all || running.is_empty() {
        let links = if args.dry_run {
            host_links()
        } else {
            step04::net::reset().context("delete the wsv links")?
        };
        for name in &links {
            println!("{verb} link {name}");
        }
        count += links.len();
    } else {
        let kept = host_links();
        if !kept.is_empty() {
            let pids: Vec<String> = running
                .iter()
                .map(|p| format!("{} ({})", p.pid, p.exe))
                .collect();
            println!(
                "kept {} wsv link(s) and the {PARENT} parents: workshop runtimes are running ({}); --all removes them too",
                kept.len(),
                pids.join(", ")
            );
        }
    }

    if count == 0 {
        println!("reset: nothing of the workshop is left on this host");
    } else {
        println!(
            "reset: {} {count} leftover(s)",
            if args.dry_run {
                "would remove"
            } else {
                "removed"
            }
        );
    }
    Ok(())
}

/// Is `name` a workshop runtime's executable (`step05`, `ex05`,
/// `ex05-solution`)?
fn is_runtime(name: &str) -> bool {
    let name = name.strip_suffix(" (deleted)").unwrap_or(name);
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if let Some(n) = name.strip_prefix("step") {
        return digits(n);
    }
    if let Some(n) = name.strip_prefix("ex") {
        return digits(n.strip_suffix("-solution").unwrap_or(n));
    }
    false
}

/// Container processes nobody supervises: a runtime's executable, in
/// another PID namespace, whose parent is not a runtime.
fn strays<'a>(procs: &'a [Proc], own_ns: Option<&PathBuf>) -> Vec<&'a Proc> {
    let by_pid: BTreeMap<u32, &Proc> = procs.iter().map(|p| (p.pid, p)).collect();
    procs
        .iter()
        .filter(|p| is_runtime(&p.exe))
        .filter(|p| p.pidns.is_some() && p.pidns.as_ref() != own_ns)
        .filter(|p| {
            !by_pid
                .get(&p.ppid)
                .is_some_and(|parent| is_runtime(&parent.exe))
        })
        .collect()
}

/// Workshop runtimes running on the host (in our PID namespace), not us.
fn runtimes<'a>(procs: &'a [Proc], own_ns: Option<&PathBuf>, me: u32) -> Vec<&'a Proc> {
    procs
        .iter()
        .filter(|p| p.pid != me && is_runtime(&p.exe) && p.pidns.as_ref() == own_ns)
        .collect()
}

fn processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
            Some(Proc {
                pid,
                ppid: ppid_from_stat(&stat)?,
                exe: exe.file_name()?.to_string_lossy().into_owned(),
                pidns: std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok(),
            })
        })
        .collect()
}

/// The 4th field of /proc/PID/stat, after the parenthesised command name
/// (which may itself contain spaces and parentheses).
fn ppid_from_stat(stat: &str) -> Option<u32> {
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The workshop's parent cgroups that exist, one per hierarchy.
fn parents(root: &Path, mode: Mode) -> Vec<PathBuf> {
    let candidates: Vec<PathBuf> = match mode {
        Mode::V2 => vec![root.join(PARENT)],
        _ => subdirs(root).into_iter().map(|h| h.join(PARENT)).collect(),
    };
    candidates.into_iter().filter(|p| p.is_dir()).collect()
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// A leaf `ws-<PID>` whose PID no longer exists (the rule of sweep_stale).
fn owner_gone(leaf: &Path) -> bool {
    leaf.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("ws-"))
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
}

fn host_links() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| step04::net::is_host_ifname(n))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: u32, ppid: u32, exe: &str, ns: &str) -> Proc {
        Proc {
            pid,
            ppid,
            exe: exe.into(),
            pidns: Some(PathBuf::from(ns)),
        }
    }

    #[test]
    fn runtime_names_are_the_steps_and_exercises_only() {
        for yes in [
            "step01",
            "step06",
            "ex05",
            "ex05-solution",
            "step06 (deleted)",
        ] {
            assert!(is_runtime(yes), "{yes}");
        }
        for no in [
            "step",
            "stepper",
            "ex",
            "exec",
            "ex05-other",
            "sh",
            "probe",
            "xtask",
        ] {
            assert!(!is_runtime(no), "{no}");
        }
    }

    #[test]
    fn a_stray_is_a_container_init_whose_runtime_is_gone() {
        let host = PathBuf::from("pid:[1]");
        let procs = vec![
            // A running container: runtime 10 (host ns), its init 11 (own ns).
            p(10, 5, "step06", "pid:[1]"),
            p(11, 10, "step06", "pid:[2]"),
            // An orphan: its runtime died, it was reparented to PID 1.
            p(21, 1, "step05", "pid:[3]"),
            // A runtime on the host whose parent is a shell: not a stray.
            p(30, 1, "step04", "pid:[1]"),
            // Something else in a container: not ours.
            p(40, 1, "nginx", "pid:[4]"),
        ];
        let s: Vec<u32> = strays(&procs, Some(&host)).iter().map(|p| p.pid).collect();
        assert_eq!(s, [21]);
        let r: Vec<u32> = runtimes(&procs, Some(&host), 30)
            .iter()
            .map(|p| p.pid)
            .collect();
        assert_eq!(r, [10]);
    }

    #[test]
    fn stat_gives_the_parent_even_with_parentheses_in_the_name() {
        assert_eq!(ppid_from_stat("42 (a) b) S 7 42 42 0"), Some(7));
        assert_eq!(ppid_from_stat("1 (init) S 0 1 1"), Some(0));
        assert_eq!(ppid_from_stat("garbage"), None);
    }

    #[test]
    fn a_leaf_of_a_live_pid_is_not_stale() {
        let me = PathBuf::from(format!("/x/ws-{}", std::process::id()));
        assert!(!owner_gone(&me));
        assert!(owner_gone(Path::new("/x/ws-4294967295")));
        assert!(!owner_gone(Path::new("/x/test-12-foo")));
    }
}
