//! `cargo xtask break-it [NAMES] [--record]`: every "Break it" bullet of the
//! book, run for real.
//!
//! Each break-it is a directory `book/break-it/NAME/` (NAME starts with the
//! chapter, `ch03-...`, which names the step it breaks: `step03`) holding
//!
//! - `patch.diff`: a unified diff against the workspace's sources, applied
//!   with `patch -p1` to a scratch copy (an empty file: the break-it is a
//!   flag of the unpatched step, and run.sh says which);
//! - `run.sh`: runs the patched binary (`$BREAKIT_BIN`) and the unpatched
//!   one (`$BREAKIT_CONTROL`) and prints only stable lines;
//! - `outcome.txt`: what run.sh printed when it was recorded, included by
//!   the book under the bullet it proves.
//!
//! run.sh runs as root in a mount namespace of its own whose mounts are all
//! private (`unshare --mount --propagation private`), so no mount it or the
//! steps make can reach the host's table; a break-it about propagation makes
//! that throwaway namespace shared itself. Its working directory is a
//! scratch directory (`$BREAKIT_TMP`) that is removed afterwards, and
//! `$WORKSHOP_ROOTFS` is a copy of testkit's busybox rootfs in it, so a
//! break-it that writes into the rootfs spoils nothing else.
//!
//! A file beside the directories (`ch08-registry.sh`, `ch09-user.sh`) is
//! a helper that a chapter's run.sh sources; it is not a break-it.
//!
//! Chapter 9's run.sh also gets `$BREAKIT_USER`: an ordinary user without
//! a subordinate range (testkit's `contain-rs-rootless1`, made if missing),
//! whose container has the single map the parent writes itself; and root
//! has a range in /etc/subuid and /etc/subgid, for `--userns remap`. The
//! run.sh makes what the user needs (a copy of the binaries and of the
//! rootfs it can reach, owned by it) and runs the step with `setpriv`.
//!
//! The patched step is built with `--profile break-it` (dev without debug
//! info) in one target dir, `target/break-it/target`, from one scratch copy
//! of the workspace, `target/break-it/src`: the dependencies are built once
//! for all, and so are the unpatched controls (built from the workspace
//! itself in the same target dir).

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};

/// How long one run.sh may take before it is killed (and fails).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(clap::Args)]
pub struct Args {
    /// Only these break-its (directory names under book/break-it; all when none).
    names: Vec<String>,
    /// Rewrite each outcome.txt with what run.sh printed instead of comparing.
    #[arg(long)]
    record: bool,
}

/// One break-it directory.
struct BreakIt {
    name: String,
    dir: PathBuf,
    /// The step package it patches: `stepNN` for `chNN-...`.
    package: String,
}

pub fn run(args: Args) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "break-it runs the patched steps as root (they make namespaces, mounts and cgroups); run it as root"
        );
    }
    let started = Instant::now();
    let root = crate::workspace_root();
    let all = discover(&root.join("book/break-it"))?;
    let selected: Vec<&BreakIt> = if args.names.is_empty() {
        all.iter().collect()
    } else {
        let mut picked = Vec::new();
        for name in &args.names {
            match all.iter().find(|b| &b.name == name) {
                Some(b) => picked.push(b),
                None => bail!("no break-it named {name} under book/break-it"),
            }
        }
        picked
    };
    let work = testkit::rootfs::work_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| root.join("target"))
        .join("break-it");
    let target = work.join("target");
    let busybox = testkit::rootfs::busybox_rootfs()?;

    // Every file any patch touches gets a fresh mtime in each copy, so cargo
    // never takes an earlier break-it's build of it for the unpatched one;
    // so does each broken step's main.rs, so its binary is always linked
    // anew (cargo does not copy a fresh binary to target/break-it/break-it/
    // again, where the last build of the other source tree left its own).
    let mut patched_anywhere = BTreeSet::new();
    for b in &all {
        patched_anywhere.extend(patched_files(&b.dir.join("patch.diff"))?);
        patched_anywhere.insert(PathBuf::from(format!("steps/{}/src/main.rs", b.package)));
    }

    // The controls: each step the selection breaks, unpatched, built once
    // from the same scratch copy the patched ones are built from.
    let packages: BTreeSet<&str> = selected.iter().map(|b| b.package.as_str()).collect();
    let controls = work.join("controls");
    fs::create_dir_all(&controls)?;
    {
        let src = work.join("src");
        let _cleanup = Cleanup(vec![src.clone()]);
        let _ = fs::remove_dir_all(&src);
        copy_sources(&root, &src, &patched_anywhere)?;
        for package in &packages {
            let bin = build(&src, package, &target)
                .with_context(|| format!("build the control {package}"))?;
            fs::copy(bin, controls.join(package))
                .with_context(|| format!("keep the control {package}"))?;
        }
    }

    let mut failed = Vec::new();
    for b in &selected {
        let one = Instant::now();
        eprintln!("break-it: {} ({})", b.name, b.package);
        let outcome = run_one(
            &root,
            b,
            &work,
            &target,
            &controls.join(&b.package),
            &busybox,
            &patched_anywhere,
            args.record,
        );
        match outcome {
            Ok(()) => eprintln!(
                "break-it: {} ok ({:.1} s)",
                b.name,
                one.elapsed().as_secs_f64()
            ),
            Err(e) => {
                eprintln!("break-it: {} FAILED: {e:#}", b.name);
                failed.push(b.name.clone());
            }
        }
    }
    let _ = fs::remove_dir_all(&controls);
    println!(
        "break-it: {} passed, {} failed, {:.0} s",
        selected.len() - failed.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        bail!("break-its failed: {}", failed.join(", "));
    }
    Ok(())
}

/// The break-it directories, sorted by name.
fn discover(dir: &Path) -> Result<Vec<BreakIt>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(chapter) = name
            .strip_prefix("ch")
            .and_then(|rest| rest.get(..2))
            .filter(|n| n.bytes().all(|c| c.is_ascii_digit()))
        else {
            bail!("break-it {name}: the name must start with its chapter, chNN-");
        };
        for file in ["patch.diff", "run.sh", "outcome.txt"] {
            if !entry.path().join(file).is_file() {
                bail!("break-it {name}: {file} is missing");
            }
        }
        found.push(BreakIt {
            package: format!("step{chapter}"),
            name,
            dir: entry.path(),
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// The files a unified diff changes (its `+++ b/PATH` lines, as `PATH`).
fn patched_files(diff: &Path) -> Result<Vec<PathBuf>> {
    let text = fs::read_to_string(diff).with_context(|| format!("read {}", diff.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix("+++ "))
        .map(|l| l.split('\t').next().unwrap_or(l))
        .filter_map(|p| p.split_once('/').map(|(_, rest)| PathBuf::from(rest)))
        .collect())
}

#[allow(clippy::too_many_arguments)]
fn run_one(
    root: &Path,
    b: &BreakIt,
    work: &Path,
    target: &Path,
    control: &Path,
    busybox: &Path,
    patched_anywhere: &BTreeSet<PathBuf>,
    record: bool,
) -> Result<()> {
    let src = work.join("src");
    let tmp = work.join(format!("run-{}", b.name));
    // Whatever happens below, the copy and run.sh's directory go.
    let _cleanup = Cleanup(vec![src.clone(), tmp.clone()]);
    let _ = fs::remove_dir_all(&src);
    copy_sources(root, &src, patched_anywhere)?;

    let diff = b.dir.join("patch.diff");
    if fs::metadata(&diff)?.len() > 0 {
        let out = Command::new("patch")
            .args([
                "-p1",
                "--batch",
                "--forward",
                "--no-backup-if-mismatch",
                "-i",
            ])
            .arg(&diff)
            .current_dir(&src)
            .output()
            .context("run patch (install the `patch` package)")?;
        if !out.status.success() {
            bail!(
                "the patch of break-it {} no longer applies to the sources; update book/break-it/{}/patch.diff:\n{}{}",
                b.name,
                b.name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let bin = build(&src, &b.package, target)?;
    let patched = tmp.join(&b.package).join(&b.package);
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(patched.parent().unwrap_or(&tmp))?;
    fs::copy(bin, &patched).context("copy the patched binary")?;
    let rootfs = tmp.join("rootfs");
    let status = Command::new("cp")
        .arg("-a")
        .arg(busybox)
        .arg(&rootfs)
        .status()
        .context("run cp")?;
    if !status.success() {
        bail!("cp -a {} {} failed", busybox.display(), rootfs.display());
    }

    let (ok, stdout, stderr) = run_script(b, &tmp, &patched, control, &rootfs)?;
    if !ok {
        bail!("run.sh failed or timed out; its stderr:\n{stderr}");
    }
    let recorded_path = b.dir.join("outcome.txt");
    if record {
        fs::write(&recorded_path, &stdout)?;
        eprintln!("break-it: recorded {}", recorded_path.display());
        return Ok(());
    }
    let recorded = fs::read_to_string(&recorded_path)?;
    if recorded != stdout {
        bail!(
            "the outcome differs from book/break-it/{}/outcome.txt (re-record with --record only if the book's text still holds):\n{}\nrun.sh's stderr:\n{stderr}",
            b.name,
            diff_text(&recorded, &stdout)
        );
    }
    Ok(())
}

/// Runs run.sh in a private mount namespace, in its own process group (killed
/// whole on timeout). Returns success, stdout and stderr.
fn run_script(
    b: &BreakIt,
    tmp: &Path,
    patched: &Path,
    control: &Path,
    rootfs: &Path,
) -> Result<(bool, String, String)> {
    let out_path = tmp.join(".stdout");
    let err_path = tmp.join(".stderr");
    let mut child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "bash"])
        .arg(b.dir.join("run.sh"))
        .current_dir(tmp)
        .env("BREAKIT_BIN", patched)
        .env("BREAKIT_CONTROL", control)
        .env("BREAKIT_TMP", tmp)
        .env("BREAKIT_DIR", &b.dir)
        .env("WORKSHOP_ROOTFS", rootfs)
        .env("LC_ALL", "C")
        .envs(chapter_env(b)?)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path)?)
        .stderr(fs::File::create(&err_path)?)
        .process_group(0)
        .spawn()
        .context("run unshare (util-linux)")?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() > deadline {
            let pgid = nix::unistd::Pid::from_raw(-(child.id() as i32));
            let _ = nix::sys::signal::kill(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |p: &Path| -> String {
        let mut s = Vec::new();
        let _ = fs::File::open(p).and_then(|mut f| f.read_to_end(&mut s));
        String::from_utf8_lossy(&s).into_owned()
    };
    let (stdout, mut stderr) = (read(&out_path), read(&err_path));
    if status.is_none() {
        stderr.push_str(&format!("\n(killed after {} s)\n", RUN_TIMEOUT.as_secs()));
    }
    Ok((status.is_some_and(|s| s.success()), stdout, stderr))
}

/// What a chapter's run.sh gets besides the binaries (see the module's docs).
fn chapter_env(b: &BreakIt) -> Result<Vec<(&'static str, String)>> {
    if b.package != "step09" {
        return Ok(Vec::new());
    }
    let user = testkit::rootless::without_range().context("the user chapter 9 runs step09 as")?;
    testkit::rootless::root_range().context("root's range for --userns remap")?;
    Ok(vec![("BREAKIT_USER", user.name)])
}

/// `cargo build -p PACKAGE --profile break-it --target-dir TARGET`, from
/// `dir`; returns the binary, which this build must have linked.
fn build(dir: &Path, package: &str, target: &Path) -> Result<PathBuf> {
    let bin = target.join("break-it").join(package);
    let _ = fs::remove_file(&bin);
    // Its output only when it fails: a patched step warns (unused imports,
    // unreachable code), and that is the point of the patch.
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "-q",
            "--locked",
            "-p",
            package,
            "--profile",
            "break-it",
        ])
        .arg("--target-dir")
        .arg(target)
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::null())
        .output()
        .context("run cargo build")?;
    if !out.status.success() {
        bail!(
            "cargo build -p {package} failed in {}:\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if !bin.is_file() {
        bail!("cargo build -p {package} left no {}", bin.display());
    }
    Ok(bin)
}

/// Copies the workspace's sources (not target/, not .git) into `dest`,
/// keeping each file's mtime except for the files some patch touches.
fn copy_sources(root: &Path, dest: &Path, fresh: &BTreeSet<PathBuf>) -> Result<()> {
    fn walk(root: &Path, rel: &Path, dest: &Path, fresh: &BTreeSet<PathBuf>) -> Result<()> {
        let here = root.join(rel);
        fs::create_dir_all(dest.join(rel))?;
        for entry in fs::read_dir(&here).with_context(|| format!("read {}", here.display()))? {
            let entry = entry?;
            let name = entry.file_name();
            let rel = rel.join(&name);
            if rel == Path::new("target") || rel == Path::new(".git") || name == ".vagrant" {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(root, &rel, dest, fresh)?;
            } else if kind.is_symlink() {
                std::os::unix::fs::symlink(fs::read_link(entry.path())?, dest.join(&rel))?;
            } else if kind.is_file() {
                let to = dest.join(&rel);
                fs::copy(entry.path(), &to)
                    .with_context(|| format!("copy {}", entry.path().display()))?;
                let mtime = if fresh.contains(&rel) {
                    SystemTime::now()
                } else {
                    entry.metadata()?.modified()?
                };
                fs::File::options()
                    .write(true)
                    .open(&to)?
                    .set_modified(mtime)?;
            }
        }
        Ok(())
    }
    walk(root, Path::new(""), dest, fresh)
}

/// A line diff of two texts, good enough for short outcomes: `-` recorded, `+` now.
fn diff_text(recorded: &str, now: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (recorded.lines().collect(), now.lines().collect());
    // Longest common subsequence, then a walk.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        }
    }
    out
}

/// Removes its directories when dropped (on success and on every error).
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_marks_what_changed() {
        assert_eq!(diff_text("a\nb\nc\n", "a\nx\nc\n"), "  a\n+ x\n- b\n  c\n");
    }
}
