//! `cargo xtask vm-test`: the steps on a real cgroup v2 kernel, in qemu.
//!
//! The machines that build this project boot cgroup v1 (hybrid); the lab VM
//! and most learners' machines boot cgroup v2. So that both paths of step05,
//! step06 and step10 (an OCI runtime: `linux.resources` as v2 files, devices
//! as an eBPF program) are tested for real, this command:
//!
//! 1. takes a kernel from Debian's packages (`linux-image-cloud-amd64`: the
//!    package it depends on is fetched with `apt-get download` into
//!    `target/vm/debs/` once, and unpacked with `dpkg-deb -x`); its
//!    built-ins cover namespaces and cgroup2 with memory, cpu and pids, and
//!    its `veth.ko` (a module in Debian) goes into the image;
//! 2. builds the step binaries with cargo, strips their debug info, and packs
//!    them with the shared libraries `ldd` names, a static busybox, the test
//!    rootfs the host's tests use (`testkit::rootfs::busybox_tarball`) and
//!    `xtask/vm/init.sh` into an initramfs (cpio "newc", gzip), written here
//!    rather than with cpio(1) so that every file is root's and `/dev/console`
//!    exists without needing root;
//! 3. boots it with `qemu-system-x86_64 -accel tcg` (no KVM needed). The
//!    init script mounts a pure cgroup2 hierarchy, runs the checks and prints
//!    `CHECK <name> PASS|FAIL <detail>` per check on the serial console, then
//!    `VMTEST DONE`;
//! 4. reads the console, prints every check, and fails on a FAIL, on a check
//!    that never reported, and on a VM that does not finish in time.
//!
//! It installs nothing: a missing tool is one line naming the Debian package
//! to install. The parts: [`kernel`] (the Debian kernel), [`initramfs`] (the
//! image), [`qemu`] (booting it, reading the console); this file holds the
//! command line, the list of expected checks and the verdict.

mod initramfs;
mod kernel;
mod qemu;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use qemu::{Check, Outcome, VmRun};

/// The VM's init script: it runs the checks inside the VM.
const INIT: &str = include_str!("../vm/init.sh");

/// The steps whose checks exist.
const ALL_STEPS: [u8; 10] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

#[derive(clap::Args, Debug)]
pub struct VmArgs {
    /// Check only these steps (comma-separated numbers, 1 to 10).
    #[arg(long, value_delimiter = ',', default_values_t = ALL_STEPS)]
    steps: Vec<u8>,
    /// Fail when the VM has not finished all checks within this many seconds.
    #[arg(long, default_value_t = 1200, value_name = "SECS")]
    timeout: u64,
    /// Fail when the VM has not started its checks within this many seconds.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    boot_timeout: u64,
    /// Boot the kernel in this Debian kernel package (.deb) instead of the one
    /// `--kernel-package` names (for offline use).
    #[arg(long, value_name = "DEB")]
    kernel_deb: Option<PathBuf>,
    /// The Debian (meta-)package whose kernel to boot: the package it depends
    /// on is downloaded.
    #[arg(
        long,
        default_value = "linux-image-cloud-amd64",
        value_name = "PACKAGE"
    )]
    kernel_package: String,
    /// The VM's memory, in MiB.
    #[arg(long, default_value_t = 512, value_name = "MIB")]
    memory: u32,
    /// qemu's accelerator: `tcg` (software, works anywhere) or `kvm`.
    #[arg(long, default_value = "tcg", value_parser = ["tcg", "kvm"])]
    accel: String,
    /// Print the VM's console as it comes (it is always kept in target/vm/console.log).
    #[arg(long)]
    console: bool,
}

pub fn run(args: VmArgs) -> Result<()> {
    let started = Instant::now();
    if let Some(bad) = args.steps.iter().find(|s| !ALL_STEPS.contains(s)) {
        bail!("--steps: there is no step {bad}; the steps are 1 to 10");
    }
    if std::env::consts::ARCH != "x86_64" {
        bail!(
            "vm-test boots an x86_64 Debian kernel and runs x86_64 binaries in it; this machine is {}",
            std::env::consts::ARCH
        );
    }
    let tools = Tools::find(args.kernel_deb.is_none())?;
    let work = target_dir().join("vm");
    fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;

    let deb = match &args.kernel_deb {
        Some(deb) => deb.clone(),
        None => kernel::fetch(&args.kernel_package, &work.join("debs"))?,
    };
    let kernel = kernel::unpack(&deb, &work.join("kernel"))?;
    eprintln!("vm-test: kernel {} ({})", kernel.release, deb.display());

    let built = initramfs::build(
        &args.steps,
        &[kernel.veth.as_deref(), kernel.overlay.as_deref()],
        &work,
        &tools,
    )?;
    eprintln!(
        "vm-test: initramfs {} ({:.1} MiB), built in {:.1} s",
        built.path.display(),
        fs::metadata(&built.path)?.len() as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );

    let log = work.join("console.log");
    let run = qemu::boot(&args, &tools, &kernel.vmlinuz, &built.path, &log)?;
    write_recording(&log, &kernel.release)?;
    let expected = expected_checks(&args.steps);
    let verdicts = evaluate(&expected, &run.checks, &built.unbuilt, &run.outcome);
    report(&verdicts, &run, started, &log)
}

/// The command init.sh records for chapter 6 (keep in step with init.sh).
const RECORDED: &str = "step06 -x --network none --cap-add SYS_ADMIN sh -c 'cat /proc/self/cgroup; \
grep \" /sys/fs/cgroup \" /proc/self/mountinfo | cut -d\" \" -f5,6; mkdir /tmp/d && \
mount -t tmpfs -o dev none /tmp/d && mknod /tmp/d/kmsg c 1 11 && head -c 64 /tmp/d/kmsg'";

/// Writes the VM's `RECORD` lines (a -x run of step06 on cgroup v2) to
/// book/src/generated/step06-v2.txt, which chapter 6 includes; nothing when
/// step06 was not asked for.
fn write_recording(log: &Path, release: &str) -> Result<()> {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix("RECORD "))
        .collect();
    if lines.is_empty() {
        return Ok(());
    }
    let path = crate::workspace_root().join("book/src/generated/step06-v2.txt");
    let out = format!(
        "# recorded by `cargo xtask vm-test` in a VM booted from Debian's kernel {release}, cgroup v2 only\n$ {RECORDED}\n{}\n",
        lines.join("\n")
    );
    fs::write(&path, out).with_context(|| format!("write {}", path.display()))?;
    eprintln!("vm-test: wrote {}", path.display());
    Ok(())
}

/// `cargo xtask lab-check`: the lab VM's own checks, `lab/check.sh`:
/// shellcheck on every shell script, `vagrant validate` for both providers,
/// and the provisioning logic run twice on fakes. Nothing there boots a VM;
/// this command (`vm-test`) is what tests the v2 path for real.
pub fn lab_check() -> Result<()> {
    let status = Command::new("bash")
        .arg("lab/check.sh")
        .current_dir(crate::workspace_root())
        .stdin(Stdio::null())
        .status()
        .context("run bash lab/check.sh")?;
    if !status.success() {
        bail!("lab/check.sh failed ({status})");
    }
    Ok(())
}

/// Where cargo puts things: `$CARGO_TARGET_DIR` or `<workspace>/target`.
fn target_dir() -> PathBuf {
    testkit::rootfs::work_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| crate::workspace_root().join("target"))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("read {}", path.display()))
}

// --- What vm-test needs on the host ------------------------------------------

/// The host programs vm-test runs, each found on PATH.
struct Tools {
    qemu: PathBuf,
    strip: PathBuf,
    ldd: PathBuf,
}

impl Tools {
    /// Finds every tool, failing with the package to install for the first
    /// that is missing.
    fn find(downloading: bool) -> Result<Tools> {
        let mut needed = vec![
            ("qemu-system-x86_64", "qemu-system-x86"),
            ("strip", "binutils"),
            ("ldd", "libc-bin"),
            ("dpkg-deb", "dpkg"),
        ];
        if downloading {
            needed.push(("apt-get", "apt"));
            needed.push(("apt-cache", "apt"));
        }
        let mut found = BTreeMap::new();
        for (program, package) in needed {
            match which(program) {
                Some(path) => {
                    found.insert(program, path);
                }
                None => bail!(
                    "vm-test needs {program}, which is not installed; install it with: apt-get install {package}"
                ),
            }
        }
        if !Path::new(testkit::rootfs::BUSYBOX).exists() {
            bail!(
                "vm-test needs a static busybox at {}; install it with: apt-get install busybox-static",
                testkit::rootfs::BUSYBOX
            );
        }
        Ok(Tools {
            qemu: found["qemu-system-x86_64"].clone(),
            strip: found["strip"].clone(),
            ldd: found["ldd"].clone(),
        })
    }
}

/// `program` on PATH, as `command -v` would find it.
fn which(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Runs a command, returning its stdout, or an error with its stderr.
fn output(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

// --- The verdict -------------------------------------------------------------------------------

/// The checks of the VM itself and of the initramfs, which init.sh makes
/// in shell: they look at the VM, not at a step's behaviour.
const VM_CHECKS: [&str; 4] = ["vm_cgroup2", "vm_controllers", "vm_veth", "vm_overlay"];
/// Checks the VM does not run. Most push images with skopeo into Debian's
/// docker-registry (and sign tokens with openssl), none of which the
/// initramfs carries. Pulling is the runtime talking HTTP, not a cgroup
/// matter; the host runs them (the `tests` phase), and the VM runs every
/// other check of chapter 8, the overlay's and the fake registry's among
/// them. The report names them as not run, never as passed.
pub const NOT_IN_VM: &[&str] = &[
    "images::config_is_honoured",
    "images::user_name_from_image_passwd",
    "images::unknown_user_is_125",
    "images::command_replaces_cmd_keeps_entrypoint",
    "images::layers_whiteouts_and_links",
    "images::shared_layer_stored_once",
    "images::concurrent_containers_on_one_image",
    "images::token_auth_flow",
    "images::concurrent_pulls_into_empty_store",
    "images::pull_policies",
    "images::unknown_tag_is_125",
    "images::unknown_repository_is_125",
    "images::registry_down_is_125",
    "images::dotdot_layer_is_125",
    "images::pull_never_with_empty_store_is_125",
    // pasta and slirp4netns are not in the initramfs: a user-mode network
    // stack is a host program, not a cgroup matter. The host runs it, and
    // the VM the other 17 userns:: checks.
    "userns::user_mode_network_has_a_default_route",
];

/// step09 run by an ordinary user on cgroup v2 (init.sh makes the user and
/// a delegated subtree): what the cgroup v1 host cannot show.
const ROOTLESS_CHECKS: [&str; 4] = [
    "vm_rootless_delegated_limits",
    "vm_rootless_cgroup_removed",
    "vm_rootless_undelegated_says_so",
    "vm_rootless_limits_need_delegation",
];

/// What only a root that is the initial ramfs shows (step03 on).
const INITRAMFS_CHECKS: [&str; 2] = ["initramfs_pivot_root_hint", "initramfs_no_pivot_runs"];
/// step05's v1-backend tests, reported as ignored on this v2 kernel.
const V1_TESTS_IGNORED: &str = "vm_v1_tests_ignored";

/// Every check the VM reports for these steps: the VM's own, then for each
/// step every testkit check of its chapters, as `stepNN::group::name` (the
/// `checks` program runs the same functions `cargo test` does).
fn expected_checks(steps: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = VM_CHECKS.map(String::from).into();
    if steps.contains(&3) {
        names.extend(INITRAMFS_CHECKS.map(String::from));
    }
    if steps.contains(&5) {
        names.push(V1_TESTS_IGNORED.to_owned());
    }
    if steps.contains(&9) {
        names.extend(ROOTLESS_CHECKS.map(String::from));
    }
    for &step in &ALL_STEPS {
        if steps.contains(&step) {
            names.extend(
                testkit::checks::for_step(step)
                    .into_iter()
                    .filter(|c| !NOT_IN_VM.contains(&c.name))
                    .map(|c| format!("step{step:02}::{}", c.name)),
            );
        }
    }
    names
}

/// The step a check belongs to (`step05` for `step05::cgroup::...`), if any.
fn step_of(check: &str) -> &str {
    check.split("::").next().unwrap_or("")
}

/// One line of the report.
#[derive(Debug, PartialEq)]
struct Verdict {
    name: String,
    pass: bool,
    detail: String,
}

/// Every expected check's verdict, plus a failing one for anything the VM
/// reported that nobody expected (the two lists must not drift apart).
fn evaluate(
    expected: &[String],
    got: &[Check],
    unbuilt: &BTreeMap<String, String>,
    outcome: &Outcome,
) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    for name in expected {
        let reports: Vec<&Check> = got.iter().filter(|c| &c.name == name).collect();
        let step = if name.starts_with("initramfs_") {
            "step03"
        } else if name == V1_TESTS_IGNORED {
            "step05"
        } else {
            step_of(name)
        };
        let verdict = if let Some(why) = unbuilt.get(step) {
            Verdict {
                name: name.clone(),
                pass: false,
                detail: format!("{step} did not build: {why}"),
            }
        } else if reports.is_empty() {
            Verdict {
                name: name.clone(),
                pass: false,
                detail: match outcome {
                    Outcome::Done => "the VM never reported this check".into(),
                    Outcome::Stopped(_) => "the VM stopped before this check reported".into(),
                    Outcome::TimedOut(_) => {
                        "the VM ran out of time before this check reported".into()
                    }
                },
            }
        } else if reports.len() > 1 {
            Verdict {
                name: name.clone(),
                pass: false,
                detail: format!("reported {} times: {:?}", reports.len(), reports),
            }
        } else {
            Verdict {
                name: name.clone(),
                pass: reports[0].pass,
                detail: reports[0].detail.clone(),
            }
        };
        verdicts.push(verdict);
    }
    for check in got.iter().filter(|c| !expected.contains(&c.name)) {
        verdicts.push(Verdict {
            name: check.name.clone(),
            pass: false,
            detail: format!(
                "not an expected check (add it to expected_checks): {}",
                check.detail
            ),
        });
    }
    verdicts
}

fn report(verdicts: &[Verdict], run: &VmRun, started: Instant, log: &Path) -> Result<()> {
    println!("\nvm-test: the steps on a cgroup v2 kernel");
    let ran_step08 = verdicts.iter().any(|v| v.name.starts_with("step08::"));
    let skipped: Vec<&str> = if ran_step08 {
        NOT_IN_VM.to_vec()
    } else {
        Vec::new()
    };
    if !skipped.is_empty() {
        println!(
            "  not run in the VM ({} of step08's checks: they need docker-registry, skopeo and \
             openssl, which the initramfs does not carry; the host runs them): {}",
            skipped.len(),
            skipped
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for v in verdicts {
        println!(
            "  {} {:<52} {}",
            if v.pass { "✔" } else { "✘" },
            v.name,
            v.detail
        );
    }
    match run.boot {
        Some((wall, uptime)) => println!(
            "vm-test: the VM booted in {wall:.1} s (kernel uptime {uptime:.1} s); the VM ran {:.1} s; vm-test took {:.1} s",
            run.elapsed,
            started.elapsed().as_secs_f64()
        ),
        None => println!(
            "vm-test: the VM never booted; vm-test took {:.1} s",
            started.elapsed().as_secs_f64()
        ),
    }
    let failed = verdicts.iter().filter(|v| !v.pass).count();
    let ok = failed == 0 && run.outcome.is_done();
    let testkit: Vec<&Verdict> = verdicts.iter().filter(|v| v.name.contains("::")).collect();
    println!(
        "vm-test: {} testkit checks passed on cgroup v2 ({} failed)",
        testkit.iter().filter(|v| v.pass).count(),
        testkit.iter().filter(|v| !v.pass).count()
    );
    if !ok {
        println!(
            "vm-test: the last lines of the console (all of it is in {}):",
            log.display()
        );
        for line in &run.console_tail {
            println!("  | {line}");
        }
    }
    println!(
        "vm-test: {} passed, {failed} failed",
        verdicts.len() - failed
    );
    if !run.outcome.is_done() {
        let (Outcome::Stopped(why) | Outcome::TimedOut(why)) = &run.outcome else {
            unreachable!()
        };
        bail!("{why}");
    }
    if failed > 0 {
        bail!("{failed} check(s) failed in the VM");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, pass: bool) -> Check {
        Check {
            name: name.into(),
            pass,
            detail: "d".into(),
        }
    }

    #[test]
    fn a_missing_duplicate_failing_or_unexpected_check_fails() {
        let expected = vec![
            "a".to_owned(),
            "b".to_owned(),
            "c".to_owned(),
            "d".to_owned(),
        ];
        let got = vec![
            check("a", true),
            check("b", false),
            check("c", true),
            check("c", true),
            check("z", true),
        ];
        let v = evaluate(&expected, &got, &BTreeMap::new(), &Outcome::Done);
        let passed: Vec<(&str, bool)> = v.iter().map(|v| (v.name.as_str(), v.pass)).collect();
        assert_eq!(
            passed,
            [
                ("a", true),
                ("b", false),
                ("c", false),
                ("d", false),
                ("z", false)
            ]
        );
        assert!(v[3].detail.contains("never reported"));
        let v = evaluate(
            &expected,
            &got,
            &BTreeMap::new(),
            &Outcome::Stopped(String::new()),
        );
        assert!(v[3].detail.contains("stopped before"));
        let v = evaluate(
            &expected,
            &got,
            &BTreeMap::new(),
            &Outcome::TimedOut(String::new()),
        );
        assert!(v[3].detail.contains("out of time"));
    }

    #[test]
    fn an_unbuilt_step_fails_all_its_checks() {
        let expected = expected_checks(&[3, 5]);
        let got: Vec<Check> = expected.iter().map(|n| check(n, true)).collect();
        let unbuilt = BTreeMap::from([("step05".to_owned(), "error[E0425]".to_owned())]);
        let v = evaluate(&expected, &got, &unbuilt, &Outcome::Done);
        let step05: Vec<&Verdict> = v
            .iter()
            .filter(|v| v.name.starts_with("step05::"))
            .collect();
        assert_eq!(step05.len(), testkit::checks::for_step(5).len());
        assert!(step05.iter().all(|v| !v.pass));
        assert!(
            v.iter()
                .filter(|v| !v.name.starts_with("step05::") && v.name != V1_TESTS_IGNORED)
                .all(|v| v.pass)
        );
        let unbuilt = BTreeMap::from([("step03".to_owned(), "error".to_owned())]);
        let v = evaluate(&expected, &got, &unbuilt, &Outcome::Done);
        assert!(
            v.iter()
                .filter(|v| v.name.starts_with("initramfs_"))
                .all(|v| !v.pass)
        );
    }

    /// The names init.sh itself reports: its `verdict NAME ...` lines.
    fn reported_by_init() -> Vec<String> {
        let mut names: Vec<String> = INIT
            .lines()
            .filter_map(|line| line.trim().strip_prefix("verdict "))
            .map(|rest| rest.split(' ').next().unwrap().replace('"', ""))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn init_reports_exactly_the_vm_and_initramfs_checks() {
        let mut own: Vec<String> = VM_CHECKS
            .iter()
            .chain(&INITRAMFS_CHECKS)
            .chain(&[V1_TESTS_IGNORED])
            .chain(&ROOTLESS_CHECKS)
            .map(|s| s.to_string())
            .collect();
        own.sort();
        assert_eq!(reported_by_init(), own);
        let step2 = expected_checks(&[2]);
        let n = VM_CHECKS.len();
        assert_eq!(&step2[..n], VM_CHECKS);
        assert_eq!(step2.len(), n + testkit::checks::for_step(2).len());
        assert!(step2[n..].iter().all(|n| n.starts_with("step02::")));
        assert!(expected_checks(&[3]).contains(&"initramfs_no_pivot_runs".to_owned()));
    }

    #[test]
    fn step10_is_held_to_the_oci_checks_and_run_by_default() {
        let n = VM_CHECKS.len();
        let step10 = expected_checks(&[10]);
        let oci: Vec<&str> = testkit::checks::all()
            .into_iter()
            .filter(|c| c.name.starts_with("oci::"))
            .map(|c| c.name)
            .collect();
        assert!(!oci.is_empty());
        let want: Vec<String> = oci.iter().map(|c| format!("step10::{c}")).collect();
        assert_eq!(step10[n..], want[..]);
        assert!(ALL_STEPS.contains(&10));
        let every = expected_checks(&ALL_STEPS);
        assert!(want.iter().all(|c| every.contains(c)));
        // Chapters 1 to 9 keep their checks, none of chapter 10's.
        assert!(expected_checks(&[9]).iter().all(|c| !c.contains("::oci::")));
        let mut unique = every.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), every.len(), "no check is expected twice");
    }

    #[test]
    fn what_the_vm_skips_exists_and_is_not_expected() {
        let all: Vec<&str> = testkit::checks::all().iter().map(|c| c.name).collect();
        for name in NOT_IN_VM {
            assert!(
                all.contains(name),
                "NOT_IN_VM names {name}, which is no check"
            );
        }
        let step8 = expected_checks(&[8]);
        assert!(
            NOT_IN_VM
                .iter()
                .all(|n| !step8.contains(&format!("step08::{n}")))
        );
        assert!(step8.contains(&"step08::overlay::root_is_an_overlay".to_owned()));
        assert!(step8.contains(&"step08::images::truncated_blob_is_125".to_owned()));
    }
}
