//! Booting the image in qemu and reading what the VM says on its serial
//! console: `VMTEST BOOTED <uptime>`, one `CHECK <name> PASS|FAIL <detail>`
//! per check, and `VMTEST DONE`.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::{Tools, VmArgs};

/// One `CHECK` line from the VM.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: String,
    pub pass: bool,
    pub detail: String,
}

/// What the console says, line by line.
#[derive(Debug, PartialEq)]
enum Line {
    Booted(f64),
    Check(Check),
    Done,
    Other,
}

fn parse_line(line: &str) -> Line {
    // The firmware's escape sequences may precede the first line.
    let line = line.trim_end_matches(['\r', '\n']);
    if let Some(at) = line.find("VMTEST BOOTED ") {
        let uptime = line[at + "VMTEST BOOTED ".len()..].trim();
        return Line::Booted(uptime.parse().unwrap_or(f64::NAN));
    }
    if line.contains("VMTEST DONE") {
        return Line::Done;
    }
    let Some(at) = line.find("CHECK ") else {
        return Line::Other;
    };
    let mut words = line[at + "CHECK ".len()..].splitn(3, ' ');
    let (Some(name), Some(verdict)) = (words.next(), words.next()) else {
        return Line::Other;
    };
    let pass = match verdict {
        "PASS" => true,
        "FAIL" => false,
        _ => return Line::Other,
    };
    Line::Check(Check {
        name: name.to_owned(),
        pass,
        detail: words.next().unwrap_or("").trim().to_owned(),
    })
}

/// How the VM's run ended.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// `VMTEST DONE` came.
    Done,
    /// The VM stopped before it (init died, the kernel panicked).
    Stopped(String),
    /// It did not start the checks, or finish them, in time.
    TimedOut(String),
}

impl Outcome {
    pub fn is_done(&self) -> bool {
        *self == Outcome::Done
    }
}

pub struct VmRun {
    pub checks: Vec<Check>,
    pub outcome: Outcome,
    /// Seconds from starting qemu to `VMTEST BOOTED`, and the guest's uptime then.
    pub boot: Option<(f64, f64)>,
    /// Seconds from starting qemu to the end.
    pub elapsed: f64,
    pub console_tail: Vec<String>,
}

pub fn boot(
    args: &VmArgs,
    tools: &Tools,
    vmlinuz: &Path,
    initrd: &Path,
    log: &Path,
) -> Result<VmRun> {
    let mut cmd = Command::new(&tools.qemu);
    cmd.args([
        "-accel",
        &args.accel,
        "-m",
        &args.memory.to_string(),
        "-smp",
        "1",
    ])
    .args(["-nographic", "-no-reboot", "-nic", "none"])
    .arg("-kernel")
    .arg(vmlinuz)
    .arg("-initrd")
    .arg(initrd)
    // quiet and loglevel=1 keep kernel messages (the OOM killer's among
    // them) from cutting into the CHECK lines; panic=-1 with -no-reboot
    // turns a dying init into qemu exiting; cgroup_no_v1=all leaves every
    // controller to the cgroup2 hierarchy.
    .args([
        "-append",
        "console=ttyS0 quiet loglevel=1 panic=-1 cgroup_no_v1=all",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    eprintln!("vm-test: $ {cmd:?}");
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("start {}", tools.qemu.display()))?;
    let mut log_file =
        fs::File::create(log).with_context(|| format!("create {}", log.display()))?;

    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().context("qemu's stdout")?;
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            if tx
                .send(String::from_utf8_lossy(&line).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    let mut stderr = child.stderr.take().context("qemu's stderr")?;
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let mut checks = Vec::new();
    let mut boot = None;
    let mut tail = std::collections::VecDeque::new();
    let outcome = loop {
        let limit = if boot.is_none() {
            args.boot_timeout
        } else {
            args.timeout
        };
        let left = Duration::from_secs(limit).saturating_sub(started.elapsed());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                break Outcome::TimedOut(if boot.is_none() {
                    format!("the VM did not start its checks within {limit} s (--boot-timeout)")
                } else {
                    format!("the VM did not finish its checks within {limit} s (--timeout)")
                });
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Outcome::Stopped("the VM stopped before it printed VMTEST DONE".into());
            }
        };
        let _ = writeln!(log_file, "{}", line.trim_end_matches('\r'));
        if args.console {
            eprintln!("vm| {}", line.trim_end_matches('\r'));
        }
        tail.push_back(line.trim_end_matches('\r').to_owned());
        if tail.len() > 40 {
            tail.pop_front();
        }
        match parse_line(&line) {
            Line::Booted(uptime) => boot = Some((started.elapsed().as_secs_f64(), uptime)),
            Line::Check(check) => {
                if !args.console {
                    eprintln!(
                        "  {} {}",
                        if check.pass { "pass" } else { "FAIL" },
                        check.name
                    );
                }
                checks.push(check);
            }
            Line::Done => break Outcome::Done,
            Line::Other => {}
        }
    };
    // After DONE the init script powers off: give it a moment, then stop
    // it. A VM that timed out is stopped at once.
    let grace = if outcome == Outcome::Done { 10 } else { 0 };
    let deadline = Instant::now() + Duration::from_secs(grace);
    while child.try_wait()?.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if child.try_wait()?.is_none() {
        let _ = child.kill();
    }
    let status = child.wait()?;
    let elapsed = started.elapsed().as_secs_f64();
    let _ = reader.join();
    let qemu_stderr = stderr_reader.join().unwrap_or_default();
    let outcome = match outcome {
        Outcome::Stopped(why) => Outcome::Stopped(format!(
            "{why} (qemu: {status}{}{})",
            if qemu_stderr.trim().is_empty() {
                ""
            } else {
                ": "
            },
            qemu_stderr.trim()
        )),
        other => other,
    };
    Ok(VmRun {
        checks,
        outcome,
        boot,
        elapsed,
        console_tail: tail.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_lines_are_read_through_firmware_noise() {
        assert_eq!(
            parse_line("\x1bc\x1b[?7lCHECK step05_oom PASS --memory 32M: rc=137 out=[]\r"),
            Line::Check(Check {
                name: "step05_oom".into(),
                pass: true,
                detail: "--memory 32M: rc=137 out=[]".into()
            })
        );
        assert_eq!(
            parse_line("CHECK vm_veth FAIL"),
            Line::Check(Check {
                name: "vm_veth".into(),
                pass: false,
                detail: String::new()
            })
        );
        assert_eq!(parse_line("VMTEST BOOTED 2.79\r"), Line::Booted(2.79));
        assert_eq!(parse_line("VMTEST DONE"), Line::Done);
        assert_eq!(parse_line("CHECK x MAYBE y"), Line::Other);
        assert_eq!(parse_line("[    2.7] reboot: Power down"), Line::Other);
    }
}
