//! `cargo xtask test`: every check CI runs, as phases.
//!
//! Each phase is one command line, run from the workspace root; the
//! project-level ones are this xtask's own subcommands, so each can also be
//! run alone (`cargo xtask book check`, `cargo xtask vm-test`, ...).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::bail;

#[derive(clap::Args)]
pub struct Args {
    /// Run only these phases (comma-separated names; see the list printed at the start).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Skip these phases.
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
}

/// The exercises as shipped fail their tests by design (the `teeth` phase
/// proves it), so the workspace-wide test run leaves them out.
pub const EXERCISES: [&str; 10] = [
    "ex01", "ex02", "ex03", "ex04", "ex05", "ex06", "ex07", "ex08", "ex09", "ex10",
];

/// One phase: a name and the command line it runs from the workspace root.
struct Phase {
    name: &'static str,
    what: &'static str,
    argv: Vec<String>,
}

fn phases() -> Vec<Phase> {
    let cargo = |args: &[&str]| -> Vec<String> {
        std::iter::once("cargo")
            .chain(args.iter().copied())
            .map(str::to_owned)
            .collect()
    };
    // The project-level checks are subcommands of this very binary.
    let xtask = |args: &[&str]| -> Vec<String> {
        let me = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "xtask".into());
        std::iter::once(me)
            .chain(args.iter().map(|s| s.to_string()))
            .collect()
    };
    let mut tests = cargo(&["test", "--workspace", "--no-fail-fast"]);
    for exercise in EXERCISES {
        tests.extend(["--exclude".to_owned(), exercise.to_owned()]);
    }
    vec![
        Phase {
            name: "fmt",
            what: "rustfmt: the code is formatted",
            argv: cargo(&["fmt", "--all", "--", "--check"]),
        },
        Phase {
            name: "clippy",
            what: "clippy: no warnings in any crate or test",
            argv: cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
        },
        Phase {
            name: "tests",
            what: "every crate's tests; black-box ones run the real binaries as root",
            argv: tests,
        },
        Phase {
            name: "break-it",
            what: "every \"Break it\" of the book: the patched step run against its recorded outcome",
            argv: xtask(&["break-it"]),
        },
        Phase {
            name: "teeth",
            what: "every exercise as shipped fails its tests; each todo!() hole, replaced in the solution by a wrong body, fails a check (the solutions' own run is the tests phase's)",
            argv: xtask(&["teeth", "--ci"]),
        },
        Phase {
            name: "escape",
            what: "the escape lab: step09 (rootless) blocks every attack, step06 to step08 all but what a later chapter closes, the early steps still teach",
            argv: xtask(&["escape"]),
        },
        Phase {
            name: "conformance",
            what: "the runtime-tools validation suite against step10: at least the whole files, and the points in files run to their end, of the better of runc and crun, and its own points, as the book's table recorded them",
            argv: xtask(&["conformance", "--ci"]),
        },
        Phase {
            name: "soak",
            what: "the short soak: many runs, concurrent runs, signals at random moments; nothing leaks",
            argv: xtask(&["soak"]),
        },
        Phase {
            name: "vm",
            what: "steps 01-10 on a real cgroup v2 kernel, booted in qemu (step09 also as an ordinary user in a delegated subtree)",
            argv: xtask(&["vm-test"]),
        },
        Phase {
            name: "lab",
            what: "the lab VM's files: vagrant validate, shellcheck, the provisioning logic",
            argv: xtask(&["lab-check"]),
        },
        Phase {
            name: "book",
            what: "the book: includes and anchors, syscall reference, mdbook build without warnings",
            argv: xtask(&["book", "check"]),
        },
        Phase {
            name: "browser",
            what: "the built book in headless Chromium: no console errors, diagrams render",
            argv: xtask(&["book", "browser-check"]),
        },
    ]
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let selected: Vec<Phase> = phases()
        .into_iter()
        .filter(|p| args.only.is_empty() || args.only.iter().any(|o| o == p.name))
        .filter(|p| !args.skip.iter().any(|s| s == p.name))
        .collect();
    if selected.is_empty() {
        bail!("no phase selected; the phases are: {}", names());
    }
    let listed: Vec<&str> = selected.iter().map(|p| p.name).collect();
    eprintln!("xtask test: phases {}", listed.join(", "));
    let run_started = Instant::now();
    let mut results = Vec::new();
    let mut checks = CheckCounts::default();
    for phase in &selected {
        eprintln!(
            "\n==> {} ({})\n    $ {}",
            phase.name,
            phase.what,
            phase.argv.join(" ")
        );
        let started = Instant::now();
        let (ok, stdout) = run_teed(&phase.argv, &root);
        match phase.name {
            "tests" => checks.host = Some(Tally::of_cargo_test(&stdout)),
            "vm" => checks.vm = Tally::of_vm_test(&stdout),
            _ => {}
        }
        let secs = started.elapsed().as_secs_f64();
        // Each phase's time as it ends: a run cut short (CI's time limit)
        // still says where its time went.
        eprintln!(
            "<== {} {} in {secs:.0} s (since the start: {:.0} s)",
            phase.name,
            if ok { "passed" } else { "FAILED" },
            run_started.elapsed().as_secs_f64()
        );
        results.push((phase.name, ok, secs));
    }
    eprintln!("\nxtask test summary");
    for (name, ok, secs) in &results {
        eprintln!("  {} {name:<10} {secs:>7.1} s", if *ok { "✔" } else { "✘" });
    }
    if let Some(line) = checks.line() {
        eprintln!("  {line}");
    }
    let failed = results.iter().filter(|r| !r.1).count();
    // The plain closing line CI reads: one count per phase.
    println!("xtask: {} passed, {failed} failed", results.len() - failed);
    if failed > 0 {
        bail!("{failed} phase(s) failed");
    }
    Ok(())
}

fn names() -> String {
    let all: Vec<&str> = phases().iter().map(|p| p.name).collect();
    all.join(", ")
}

/// Runs a phase with its stdout and stderr, in the order it wrote them
/// (one pipe for both, so cargo's `Running ...` lines on stderr stay next
/// to the test lines on stdout), passed through to our stdout line by line
/// and kept, so the summary can count what it printed.
fn run_teed(argv: &[String], root: &Path) -> (bool, String) {
    // nix's pipe2 rather than std::io::pipe, which needs Rust 1.87 (the
    // workspace's rust-version is 1.85).
    let Ok((reader, writer)) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) else {
        return (false, String::new());
    };
    let (reader, writer) = (std::fs::File::from(reader), std::fs::File::from(writer));
    let spawned = writer.try_clone().and_then(|err| {
        Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(root)
            .stdout(writer)
            .stderr(err)
            .spawn()
    });
    // The Command, and with it our copies of the pipe's write end, is gone
    // here: the reader sees the end when the phase's last process exits.
    let Ok(mut child) = spawned else {
        return (false, String::new());
    };
    // Read to the end whatever comes (bytes that are not UTF-8 included):
    // a reader that stopped early would leave the phase blocked on a full pipe.
    let mut kept = String::new();
    let mut stdout = std::io::stdout();
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
        let text = String::from_utf8_lossy(&line);
        let _ = stdout.write_all(text.as_bytes());
        kept.push_str(&text);
        line.clear();
    }
    let ok = child.wait().map(|s| s.success()).unwrap_or(false);
    (ok, kept)
}

/// Passed and failed testkit checks, as a phase reported them.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Tally {
    passed: usize,
    failed: usize,
}

impl Tally {
    /// The steps' behaviour tests in `cargo test` output: each is a testkit
    /// check (`test mount::rootfs_is_root ... ok`) of a `tests/behaviour.rs`.
    fn of_cargo_test(out: &str) -> Tally {
        let names: Vec<&str> = testkit::checks::all().iter().map(|c| c.name).collect();
        let mut tally = Tally::default();
        let mut in_behaviour = false;
        for line in out.lines() {
            if let Some(rest) = line.trim_start().strip_prefix("Running ") {
                in_behaviour = rest.starts_with("tests/behaviour.rs");
                continue;
            }
            let Some(rest) = line.strip_prefix("test ") else {
                continue;
            };
            let Some((name, verdict)) = rest.split_once(" ... ") else {
                continue;
            };
            if !in_behaviour || !names.contains(&name) {
                continue;
            }
            match verdict.trim() {
                "ok" => tally.passed += 1,
                "FAILED" => tally.failed += 1,
                _ => {}
            }
        }
        tally
    }

    /// vm-test's line `vm-test: N testkit checks passed on cgroup v2 (M failed)`.
    fn of_vm_test(out: &str) -> Option<Tally> {
        let line = out
            .lines()
            .filter_map(|l| l.strip_prefix("vm-test: "))
            .find(|l| l.contains("testkit checks passed on cgroup v2"))?;
        let passed = line.split(' ').next()?.parse().ok()?;
        let failed = line.rsplit_once('(')?.1.split(' ').next()?.parse().ok()?;
        Some(Tally { passed, failed })
    }
}

/// What the summary says of the testkit checks: where they ran, and how many passed.
#[derive(Debug, Default)]
struct CheckCounts {
    host: Option<Tally>,
    vm: Option<Tally>,
}

impl CheckCounts {
    fn line(&self) -> Option<String> {
        let mode = host_cgroup_mode();
        let mut parts = Vec::new();
        if let Some(vm) = self.vm {
            parts.push(format!(
                "{} checks passed on cgroup v2 (the qemu VM), {} failed",
                vm.passed, vm.failed
            ));
        }
        if let Some(host) = self.host {
            parts.push(format!(
                "{} on cgroup {mode} (this host), {} failed",
                host.passed, host.failed
            ));
        }
        (!parts.is_empty()).then(|| format!("testkit: {}", parts.join("; ")))
    }
}

/// This host's cgroup mode as the summary names it: `v2`, or `v1` for a
/// host with v1 controllers (hybrid or legacy).
fn host_cgroup_mode() -> &'static str {
    match nix::sys::statfs::statfs("/sys/fs/cgroup") {
        Ok(fs) if fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC => "v2",
        Ok(_) => "v1",
        Err(_) => "(unknown mode)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviour_tests_are_counted_and_nothing_else() {
        let out = "\
     Running tests/behaviour.rs (target/debug/deps/behaviour-1)
test mount::rootfs_is_root ... ok
test uts::hostname_inside ... FAILED
test mount::not_a_check ... ok
     Running tests/net_veth.rs (target/debug/deps/net_veth-2)
test mount::rootfs_is_root ... ok
     Running tests/behaviour.rs (target/debug/deps/behaviour-3)
test cgroup::oom_kill_is_137_with_message ... ok
test cgroup::pids_limit_stops_fork_loop ... ignored
";
        assert_eq!(
            Tally::of_cargo_test(out),
            Tally {
                passed: 2,
                failed: 1
            }
        );
    }

    #[test]
    fn the_vm_count_is_read_from_its_line() {
        let out = "vm-test: kernel 6.1\nvm-test: 180 testkit checks passed on cgroup v2 (3 failed)\nvm-test: 1 passed\n";
        assert_eq!(
            Tally::of_vm_test(out),
            Some(Tally {
                passed: 180,
                failed: 3
            })
        );
        assert_eq!(Tally::of_vm_test("vm-test: 5 passed, 0 failed\n"), None);
    }
}
