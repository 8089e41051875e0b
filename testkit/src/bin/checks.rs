//! `checks`: runs the workshop's black-box checks against an implementation
//! and prints one line per check, `CHECK <step>::<name> PASS|FAIL <detail>`.
//!
//! ```text
//! checks --step 3 target/debug/step03 [--step 5 target/debug/step05 ...] [--skip GROUP::NAME ...]
//! ```
//!
//! The same functions the steps' `cargo test` runs (`testkit::checks`), in
//! a program of their own, so that they can run where cargo cannot: inside
//! the qemu VM `cargo xtask vm-test` boots on a cgroup v2 kernel. Needs
//! root. Exits 0 when every check passed, 1 otherwise, 2 on bad arguments.
//! `--skip` leaves a check out (it prints nothing for it): for checks that
//! need what the place they run in lacks, which the caller names and
//! reports itself.

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: checks --step N BINARY [--step N BINARY ...] [--skip GROUP::NAME ...]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    // The checks' own failures are sentences; a backtrace helps nobody here.
    // SAFETY: nothing else runs yet: no thread could be reading the environment.
    unsafe { std::env::set_var("RUST_BACKTRACE", "0") };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut targets = Vec::new();
    let mut skip: Vec<String> = Vec::new();
    let mut rest = args.as_slice();
    loop {
        match rest {
            [] => break,
            [flag, name, tail @ ..] if flag == "--skip" => {
                skip.push(name.clone());
                rest = tail;
            }
            [flag, step, bin, tail @ ..] if flag == "--step" => {
                let Ok(step) = step.parse::<u8>() else {
                    return usage();
                };
                targets.push((step, bin.clone()));
                rest = tail;
            }
            _ => return usage(),
        }
    }
    if targets.is_empty() {
        return usage();
    }
    if let Err(why) = testkit::run::require_root() {
        eprintln!("checks: {why}");
        return ExitCode::from(2);
    }
    let (mut passed, mut failed) = (0, 0);
    for (step, bin) in targets {
        let target = match testkit::Target::new(&bin, step) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("checks: cannot prepare the test rootfs: {e:#}");
                return ExitCode::from(2);
            }
        };
        for check in testkit::checks::for_step(step) {
            if skip.iter().any(|s| s == check.name) {
                continue;
            }
            let verdict = std::panic::catch_unwind(|| (check.run)(&target))
                .unwrap_or_else(|_| Err("the check panicked".into()));
            let name = format!("step{step:02}::{}", check.name);
            match verdict {
                Ok(()) => {
                    passed += 1;
                    println!("CHECK {name} PASS ok");
                }
                Err(why) => {
                    failed += 1;
                    println!("CHECK {name} FAIL {}", why.replace('\n', " | "));
                }
            }
        }
    }
    println!("checks: {passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
