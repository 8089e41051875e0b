//! Building the learners' exercises: as an unprivileged user, with the
//! class's dependencies compiled once.
//!
//! Why this shape. Every checkout of a class builds the same ~180 crates
//! from crates.io (clap, nix, reqwest, rustls, tokio, ...) and a dozen small
//! crates of its own (`workshop`, `step01`..`step08`, the exercises). The
//! registry crates take minutes; the learner's own ones seconds. Cargo names
//! every registry artifact after a hash of everything that went into it
//! (package, version, features, profile, compiler, dependencies), so one
//! such artifact is right for every checkout that asks for that hash. The
//! learner's path crates are another matter: cargo hashes their path
//! *relative to the workspace*, so `exercises/ex01-uts` of two learners
//! gets the same name, and only file mtimes would tell them apart. So:
//!
//! - each learner builds into a target directory of their own (no
//!   collisions, no lock shared between learners, builds run in parallel);
//! - the first learner whose Cargo.lock is the class's is built alone; the
//!   registry artifacts of that build (never the path crates') are copied
//!   into a root-owned cache;
//! - every other learner's target directory is seeded from that cache
//!   (hard links for the big, never-rewritten outputs, copies for the small
//!   files cargo may rewrite), and cargo takes what its own fingerprints
//!   call fresh and compiles the rest: for a learner with the class's
//!   lockfile, only their own crates. A learner whose Cargo.lock differs is
//!   built apart: seeded alike, cargo rebuilds whatever their lockfile
//!   changes, and nothing of theirs goes back into the cache;
//! - with a kept `--target-dir`, re-grading builds only what changed.
//!
//! Untrusted code: `cargo build` runs the learners' build scripts and proc
//! macros. It runs as an unprivileged user (a dedicated system user, or
//! `--build-user`) with a clean environment, offline, on a copy of the
//! checkout; the dependencies are fetched beforehand as root by
//! `cargo fetch`, which runs no crate's code. The cache and the binaries
//! the checks run are root-owned, so one learner's build cannot change
//! what another learner's links or what the checks execute.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Pid, User};
use sha2::{Digest, Sha256};

/// The system user the grader creates for building when `--build-user` is
/// not given.
pub const DEFAULT_BUILD_USER: &str = "contain-rs-grader";

/// The unprivileged user builds run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl BuildUser {
    /// `Some(name)`: that user, which must exist and not be root. `None`:
    /// [`DEFAULT_BUILD_USER`], created (a system user with no login and no
    /// home) if it does not exist yet.
    pub fn resolve(name: Option<&str>) -> anyhow::Result<BuildUser> {
        let wanted = name.unwrap_or(DEFAULT_BUILD_USER);
        let lookup = |n: &str| User::from_name(n).with_context(|| format!("getpwnam({n:?})"));
        let user = match lookup(wanted)? {
            Some(user) => user,
            None if name.is_some() => bail!(
                "--build-user {wanted}: no such user; create it (useradd --system {wanted}) \
                 or leave --build-user out and the grader makes its own"
            ),
            None => {
                create_system_user(wanted)?;
                lookup(wanted)?.with_context(|| {
                    format!("useradd made no user {wanted}; create it (useradd --system {wanted}) or pass --build-user")
                })?
            }
        };
        if user.uid.is_root() {
            bail!(
                "--build-user {wanted}: that is root (uid 0), and learners' build scripts \
                 must not run as root; name an unprivileged user"
            );
        }
        Ok(BuildUser {
            name: wanted.to_owned(),
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })
    }
}

/// `useradd --system` with no home and no login shell; another grader
/// creating it at the same moment is fine.
fn create_system_user(name: &str) -> anyhow::Result<()> {
    let out = Command::new("useradd")
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            "--comment",
            "contain-rs-workshop grader (builds learners code)",
            name,
        ])
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => Ok(()),
        // 9: the user exists (made since we looked).
        Ok(out) if out.status.code() == Some(9) => Ok(()),
        Ok(out) => bail!(
            "cannot create the build user {name}: useradd: {}; create it yourself \
             (useradd --system {name}) or pass --build-user USER",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => bail!(
            "cannot create the build user {name}: useradd: {e}; install passwd or pass \
             --build-user USER"
        ),
    }
}

/// Pids of the `cargo build`s running now: [`crate::run::kill_leftovers`]
/// spares them (they run while another learner's checks clean up).
pub static RUNNING_BUILDS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// SIGKILLs every process of `uid`: what a build script left running
/// after its build (a daemon escapes its process group). Only for the
/// grader's own build user, which nothing else runs as, and only once no
/// build is running.
pub fn kill_processes_of(uid: u32) {
    for _ in 0..3 {
        let mut found = false;
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in procs.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            let owner = std::fs::read_to_string(entry.path().join("status"))
                .ok()
                .and_then(|status| {
                    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
                    line.split_whitespace().nth(1)?.parse::<u32>().ok()
                });
            if owner == Some(uid) {
                found = true;
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        if !found {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where everything of a grading run lives, under the base directory:
///
/// ```text
/// toolchain/<rustc -vV hash>/  the compiler, hard-linked where root's is out of reach
/// cargo-home/                  the build user's CARGO_HOME; registry/ linked from root's
/// src/<learner>/               a copy of the checkout (no target/, no .git)
/// target/<learner>/            the learner's target directory
/// cache/                       the class's registry artifacts (root-owned)
/// bin/<learner>/exNN           the binaries the checks run (root-owned copies)
/// ```
#[derive(Debug)]
pub struct Builder {
    pub user: BuildUser,
    base: PathBuf,
    /// Holds `bin/cargo` and `bin/rustc`, readable by the build user.
    toolchain: PathBuf,
    cargo_home: PathBuf,
    /// The cargo and CARGO_HOME of the grader's own user, for `cargo fetch`.
    root_cargo: PathBuf,
    root_cargo_home: PathBuf,
}

/// What one learner's build produced.
#[derive(Debug, Default)]
pub struct Built {
    /// Package -> the binary to check (a root-owned copy).
    pub bins: BTreeMap<String, PathBuf>,
    /// Package -> (why it did not build, in one line; the log).
    pub failures: BTreeMap<String, (String, String)>,
    /// Package -> why it is refused (it compiles the answer: see
    /// [`crate::reach`]).
    pub refused: BTreeMap<String, String>,
    pub seconds: f64,
    /// Units cargo compiled, and units it found fresh.
    pub compiled: usize,
    pub fresh: usize,
    /// The learner's own (path) packages, by name: never cached as
    /// registry artifacts.
    pub path_packages: BTreeSet<String>,
    /// Their libraries (candidates for the support cache).
    pub libs: Vec<PathLib>,
}

impl Builder {
    /// Creates the base layout, gives the build user a toolchain it can
    /// run and a CARGO_HOME of its own.
    pub fn prepare(base: &Path, user: BuildUser) -> anyhow::Result<Builder> {
        std::fs::create_dir_all(base).with_context(|| format!("mkdir {base:?}"))?;
        let base = base
            .canonicalize()
            .with_context(|| format!("realpath {base:?}"))?;
        if let Some(blocked) = unsearchable_ancestor(&base) {
            bail!(
                "--target-dir {base:?}: the build user {} cannot reach it ({blocked:?} is not \
                 searchable by others); choose a directory such as /var/tmp/grader",
                user.name
            );
        }
        for dir in ["", "src", "target", "cache", "bin", "toolchain"] {
            let dir = base.join(dir);
            std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {dir:?}"))?;
            set_mode(&dir, 0o755)?;
        }
        let cargo_home = base.join("cargo-home");
        std::fs::create_dir_all(&cargo_home)?;
        chown(&cargo_home, Some(user.uid), Some(user.gid))
            .with_context(|| format!("chown {cargo_home:?}"))?;
        set_mode(&cargo_home, 0o755)?;

        let root_cargo = PathBuf::from(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        let root_cargo_home = match std::env::var_os("CARGO_HOME") {
            Some(home) => PathBuf::from(home),
            None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cargo"),
        };
        let toolchain = toolchain_for(&base, &user)?;
        Ok(Builder {
            user,
            base,
            toolchain,
            cargo_home,
            root_cargo,
            root_cargo_home,
        })
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    fn cache(&self) -> PathBuf {
        self.base.join("cache")
    }

    /// The lockfile hash the cache was filled for (None: empty).
    pub fn cache_lockfile(&self) -> Option<String> {
        std::fs::read_to_string(self.cache().join("lockfile"))
            .ok()
            .map(|s| s.trim().to_owned())
    }

    /// Copies the checkout to `src/<key>` (without `target/` and `.git`,
    /// keeping mtimes so that cargo sees what did not change), owned by
    /// the build user. Returns the copy.
    pub fn stage(&self, checkout: &Path, key: &str) -> anyhow::Result<PathBuf> {
        let dst = self.base.join("src").join(key);
        if dst.exists() {
            std::fs::remove_dir_all(&dst).with_context(|| format!("rm -r {dst:?}"))?;
        }
        copy_tree(checkout, &dst, &|rel: &Path| {
            rel == Path::new("target") || rel == Path::new(".git")
        })
        .with_context(|| format!("copying {checkout:?} for the build"))?;
        chown_tree(&dst, self.user.uid, self.user.gid)?;
        Ok(dst)
    }

    /// `cargo fetch` as the grader's user in a staged checkout: downloads
    /// (or finds in root's cache) every crate its Cargo.lock names. Runs no
    /// crate's code. Then links root's registry into the build user's
    /// CARGO_HOME. Err: the first error line.
    pub fn fetch(&self, staged: &Path, limit: Duration) -> Result<(), String> {
        let mut cmd = Command::new(&self.root_cargo);
        cmd.args(["fetch", "--color", "never", "--quiet"])
            .current_dir(staged)
            .env("RUST_BACKTRACE", "0")
            .env_remove("CARGO_TARGET_DIR");
        let (status, _, stderr) = run_limited(cmd, limit, None).map_err(|e| e.to_string())?;
        match status {
            Some(s) if s.success() => {}
            Some(_) => {
                return Err(format!(
                    "cargo fetch failed: {}",
                    first_error_line(&stderr).unwrap_or("see its output")
                ));
            }
            None => {
                return Err(format!(
                    "cargo fetch did not finish within {} s",
                    limit.as_secs()
                ));
            }
        }
        let from = self.root_cargo_home.join("registry");
        let to = self.cargo_home.join("registry");
        link_tree(&from, &to).map_err(|e| format!("linking the registry for the build user: {e:#}"))
    }

    /// `cargo build --keep-going -p exNN... --bins` as the build user into
    /// `target/<key>` (seeded from the cache when new), within `limit`.
    pub fn build(&self, staged: &Path, key: &str, packages: &[&str], limit: Duration) -> Built {
        let started = Instant::now();
        let mut built = Built::default();
        let fail_all = |built: &mut Built, why: String, log: String| {
            for p in packages {
                built
                    .failures
                    .insert((*p).to_owned(), (why.clone(), log.clone()));
            }
        };
        let target = self.base.join("target").join(key);
        if let Err(e) = self.prepare_target(&target, staged) {
            fail_all(
                &mut built,
                format!("cannot prepare the target directory: {e:#}"),
                String::new(),
            );
            return built;
        }
        let path = format!(
            "{}:/usr/local/bin:/usr/bin:/bin",
            self.toolchain.join("bin").display()
        );
        let command = |packages: &[&str]| {
            let mut cmd = Command::new(self.toolchain.join("bin/cargo"));
            cmd.args([
                "build",
                "--keep-going",
                "--message-format",
                "json",
                "--color",
                "never",
            ]);
            for p in packages {
                cmd.args(["-p", p]);
            }
            cmd.arg("--bins")
                .current_dir(staged)
                // The learner's code sees nothing of root's environment.
                .env_clear()
                .env("PATH", &path)
                .env("HOME", &self.cargo_home)
                .env("CARGO_HOME", &self.cargo_home)
                .env("CARGO_TARGET_DIR", &target)
                .env("RUSTC", self.toolchain.join("bin/rustc"))
                .env("CARGO_NET_OFFLINE", "true")
                .env("CARGO_TERM_COLOR", "never")
                // The registry under cargo-home is root's, linked: nothing to clean.
                .env("CARGO_CACHE_AUTO_CLEAN_FREQUENCY", "never")
                .env("RUST_BACKTRACE", "0")
                // A learner is rebuilt only when their code changed: incremental
                // data would cost disk and time for nothing.
                .env("CARGO_INCREMENTAL", "0")
                .env("LANG", "C.UTF-8")
                .uid(self.user.uid)
                .gid(self.user.gid);
            cmd
        };
        let cmd = command(packages);
        let (status, stdout, stderr) = match run_limited(cmd, limit, Some(&RUNNING_BUILDS)) {
            Ok(r) => r,
            Err(e) => {
                fail_all(&mut built, format!("cannot run cargo: {e}"), String::new());
                return built;
            }
        };
        let messages = parse_messages(&stdout);
        built.compiled = messages.compiled;
        built.fresh = messages.fresh;
        built.path_packages = messages.path_packages.clone();
        built.libs = messages.libs.clone();
        let cargo_tail = tail(&stderr, 40);
        // cargo writes a binary's dep-info (`target/debug/ex02.d`, which
        // `reach` reads) only when the whole build succeeded; after a failure
        // a second, fresh build of the binaries that did build writes them.
        let without: Vec<&str> = packages
            .iter()
            .copied()
            .filter(|p| {
                messages
                    .bins
                    .get(*p)
                    .is_some_and(|exe| !exe.with_extension("d").exists())
            })
            .collect();
        if !without.is_empty() {
            let _ = run_limited(command(&without), limit, Some(&RUNNING_BUILDS));
        }
        for p in packages {
            if let Some(exe) = messages.bins.get(*p) {
                let chapter = crate::EXERCISES
                    .iter()
                    .find(|(e, _)| e == p)
                    .map_or(0, |(_, c)| *c);
                // cargo writes the dep-info next to the binary it uplifts.
                let dep_info = std::fs::read_to_string(exe.with_extension("d")).unwrap_or_default();
                if dep_info.is_empty() {
                    built.refused.insert(
                        (*p).to_owned(),
                        format!("refused: {p} has no dep-info file next to its binary; the grader cannot tell its sources"),
                    );
                    continue;
                }
                if let Some(why) = crate::reach::refusal(p, chapter, &dep_info, staged) {
                    built.refused.insert((*p).to_owned(), why);
                    continue;
                }
                match self.keep_binary(key, p, exe) {
                    Ok(bin) => {
                        built.bins.insert((*p).to_owned(), bin);
                    }
                    Err(e) => {
                        built.failures.insert(
                            (*p).to_owned(),
                            (format!("cannot copy the binary: {e:#}"), String::new()),
                        );
                    }
                }
                continue;
            }
            let own = messages.errors.get(*p);
            let why = match status {
                None => format!("the build did not finish within {} s", limit.as_secs()),
                Some(_) => own
                    .and_then(|e| e.first())
                    .or(messages.first_error.as_ref())
                    .map(|e| e.lines().next().unwrap_or("").to_owned())
                    .or_else(|| first_error_line(&stderr).map(str::to_owned))
                    .unwrap_or_else(|| "cargo build failed".to_owned()),
            };
            let mut log = String::new();
            for e in own.into_iter().flatten() {
                log.push_str(e);
                log.push('\n');
            }
            log.push_str(&cargo_tail);
            built
                .failures
                .insert((*p).to_owned(), (why, tail(&log, 60)));
        }
        built.seconds = started.elapsed().as_secs_f64();
        built
    }

    /// A new target directory is seeded from the cache; an existing one
    /// (re-grading with a kept `--target-dir`) is used as it is.
    fn prepare_target(&self, target: &Path, staged: &Path) -> anyhow::Result<()> {
        if target.exists() {
            return Ok(());
        }
        let fresh = target.with_extension("new");
        if fresh.exists() {
            std::fs::remove_dir_all(&fresh)?;
        }
        std::fs::create_dir_all(&fresh)?;
        let cache = self.cache().join("debug");
        if cache.is_dir() {
            seed_tree(&cache, &fresh.join("debug"), self.user.uid, self.user.gid)
                .context("seeding from the class's dependency build")?;
            self.seed_support(staged, &fresh.join("debug"))
                .context("seeding the workshop's own crates")?;
        }
        chown(&fresh, Some(self.user.uid), Some(self.user.gid))?;
        std::fs::rename(&fresh, target)?;
        Ok(())
    }

    /// Root-owned copy of a learner's binary: what the checks run cannot be
    /// changed by the build user afterwards.
    fn keep_binary(&self, key: &str, package: &str, exe: &Path) -> anyhow::Result<PathBuf> {
        let dir = self.base.join("bin").join(key);
        std::fs::create_dir_all(&dir)?;
        set_mode(&dir, 0o755)?;
        let bin = dir.join(package);
        let _ = std::fs::remove_file(&bin);
        std::fs::copy(exe, &bin).with_context(|| format!("cp {exe:?} {bin:?}"))?;
        chown(&bin, Some(0), Some(0))?;
        set_mode(&bin, 0o755)?;
        Ok(bin)
    }

    /// Copies the registry crates' artifacts of `target/<key>` into the
    /// cache (root-owned; the learner's own packages left out), adding to
    /// what is there, and records the lockfile they were built for.
    pub fn harvest(
        &self,
        key: &str,
        path_packages: &BTreeSet<String>,
        lockfile: &str,
    ) -> anyhow::Result<()> {
        let from = self.base.join("target").join(key).join("debug");
        let to = self.cache().join("debug");
        let own: BTreeSet<String> = path_packages.iter().map(|p| p.replace('-', "_")).collect();
        let is_own = |name: &str| own.contains(&name.replace('-', "_"));
        for sub in [".fingerprint", "build"] {
            let dir = from.join(sub);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if is_own(strip_hash(&name)) {
                    continue;
                }
                let dst = to.join(sub).join(&name);
                if !dst.exists() {
                    copy_tree(&entry.path(), &dst, &|_| false)?;
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir(from.join("deps")) {
            std::fs::create_dir_all(to.join("deps"))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let stem = strip_hash(name.split('.').next().unwrap_or(&name));
                if is_own(stem) || stem.strip_prefix("lib").is_some_and(is_own) {
                    continue;
                }
                let dst = to.join("deps").join(&name);
                if !dst.exists() && entry.file_type()?.is_file() {
                    copy_file(&entry.path(), &dst)?;
                }
            }
        }
        chown_tree(&self.cache(), 0, 0)?;
        std::fs::write(self.cache().join("lockfile"), lockfile)?;
        Ok(())
    }
}

impl Builder {
    /// Keeps the leader's build of the workshop's own library crates
    /// (`workshop`, `step01`..`step08`, `rootfs-fetcher`; never the graded
    /// exercises) with a digest of every file that went into each: the
    /// sources its dep-info lists, its Cargo.toml, and the workspace's
    /// Cargo.toml, Cargo.lock and .cargo/config.toml. A learner gets a copy
    /// only where all of those are byte for byte the same in their checkout;
    /// cargo's own fingerprints still decide what is fresh.
    pub fn harvest_support(
        &self,
        key: &str,
        staged: &Path,
        libs: &[PathLib],
        graded: &[&str],
    ) -> anyhow::Result<()> {
        let from = self.base.join("target").join(key).join("debug");
        let to = self.cache().join("support");
        let mut index = Vec::new();
        for lib in libs {
            if graded.contains(&lib.package.as_str()) {
                continue;
            }
            let unit = format!("{}-{}", lib.krate, lib.hash);
            let Ok(dep_info) = std::fs::read_to_string(from.join("deps").join(format!("{unit}.d")))
            else {
                continue;
            };
            let Some(files) = support_files(&dep_info, staged, &lib.dir) else {
                continue;
            };
            let fingerprint = format!("{}-{}", lib.package, lib.hash);
            let mut copied = vec![format!(".fingerprint/{fingerprint}")];
            for name in [
                format!("lib{unit}.rlib"),
                format!("lib{unit}.rmeta"),
                format!("{unit}.d"),
            ] {
                if from.join("deps").join(&name).is_file() {
                    copied.push(format!("deps/{name}"));
                }
            }
            for rel in &copied {
                let dst = to.join(rel);
                if let Some(parent) = dst.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                if !dst.exists() {
                    copy_tree(&from.join(rel), &dst, &|_| false)?;
                }
            }
            index.push(serde_json::json!({
                "unit": unit,
                "files": files,
                "digest": digest(staged, &files),
                "copy": copied,
            }));
        }
        std::fs::create_dir_all(&to)?;
        std::fs::write(to.join("index.json"), serde_json::to_string_pretty(&index)?)?;
        chown_tree(&self.cache(), 0, 0)?;
        Ok(())
    }

    /// Copies into a new target dir the support crates whose inputs are
    /// the same in this learner's checkout as in the leader's (copies the
    /// build user owns: cargo rebuilds them in place when a dependency
    /// changed).
    fn seed_support(&self, staged: &Path, debug: &Path) -> anyhow::Result<()> {
        let from = self.cache().join("support");
        let Ok(index) = std::fs::read_to_string(from.join("index.json")) else {
            return Ok(());
        };
        let index: Vec<serde_json::Value> = serde_json::from_str(&index)?;
        for unit in index {
            let files: Vec<String> = serde_json::from_value(unit["files"].clone())?;
            if unit["digest"].as_str() != Some(digest(staged, &files).as_str()) {
                continue;
            }
            let copy: Vec<String> = serde_json::from_value(unit["copy"].clone())?;
            for rel in copy {
                let dst = debug.join(&rel);
                if let Some(parent) = dst.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                copy_tree(&from.join(&rel), &dst, &|_| false)?;
                chown_tree(&dst, self.user.uid, self.user.gid)?;
            }
        }
        Ok(())
    }
}

/// The files, relative to the checkout, that went into a support crate:
/// its dep-info's sources, its Cargo.toml, and the workspace-wide ones.
/// None when one of them lies outside the checkout (or the dep-info is not
/// understood): such a crate is not shared.
fn support_files(dep_info: &str, staged: &Path, dir: &Path) -> Option<Vec<String>> {
    let line = dep_info.lines().find(|l| l.contains(": "))?;
    let (_, sources) = line.split_once(": ")?;
    if sources.contains('\\') {
        return None;
    }
    let mut files = BTreeSet::new();
    for source in sources.split_whitespace() {
        let path = Path::new(source);
        let rel = if path.is_absolute() {
            path.strip_prefix(staged).ok()?.to_owned()
        } else {
            path.to_owned()
        };
        files.insert(rel.to_str()?.to_owned());
    }
    let manifest = dir.strip_prefix(staged).ok()?.join("Cargo.toml");
    files.insert(manifest.to_str()?.to_owned());
    for global in [
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        ".cargo/config",
    ] {
        files.insert(global.to_owned());
    }
    Some(files.into_iter().collect())
}

/// SHA-256 over each file's name and contents (or that it is missing).
fn digest(root: &Path, files: &[String]) -> String {
    let mut hasher = Sha256::new();
    for f in files {
        hasher.update(f.as_bytes());
        hasher.update([0]);
        match std::fs::read(root.join(f)) {
            Ok(bytes) => {
                hasher.update((bytes.len() as u64).to_le_bytes());
                hasher.update(&bytes);
            }
            Err(_) => hasher.update(b"missing"),
        }
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

/// `name-0123abcd` -> `name`.
fn strip_hash(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((stem, hash)) if !hash.is_empty() && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            stem
        }
        _ => name,
    }
}

/// The first 16 hex digits of the SHA-256 of the checkout's Cargo.lock;
/// `none` without one.
pub fn lockfile_hash(checkout: &Path) -> String {
    match std::fs::read(checkout.join("Cargo.lock")) {
        Ok(bytes) => hex::encode(&Sha256::digest(&bytes)[..8]),
        Err(_) => "none".to_owned(),
    }
}

/// The first ancestor of `dir` (or `dir`) that others cannot search.
fn unsearchable_ancestor(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .skip(1)
        .find(|a| {
            std::fs::metadata(a)
                .map(|m| m.permissions().mode() & 0o001 == 0)
                .unwrap_or(true)
        })
        .map(Path::to_owned)
}

/// A toolchain the build user can run: root's own when others can reach it,
/// else a hard-linked copy of its `bin/`, `lib/`, `libexec/` and `etc/` (no
/// docs) under `toolchain/<hash of rustc -vV>`.
fn toolchain_for(base: &Path, user: &BuildUser) -> anyhow::Result<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = Command::new(&rustc)
        .arg("-vV")
        .output()
        .with_context(|| format!("running {rustc:?} -vV"))?;
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .with_context(|| format!("running {rustc:?} --print sysroot"))?;
    if !version.status.success() || !sysroot.status.success() {
        bail!("{rustc:?} does not run; install Rust with rustup");
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if unsearchable_ancestor(&sysroot.join("bin")).is_none() {
        return Ok(sysroot);
    }
    let id = hex::encode(&Sha256::digest(&version.stdout)[..8]);
    let mirror = base.join("toolchain").join(id);
    for part in ["bin", "lib", "libexec", "etc"] {
        let from = sysroot.join(part);
        if from.exists() {
            link_tree(&from, &mirror.join(part))
                .with_context(|| format!("making the toolchain readable to {}", user.name))?;
        }
    }
    chmod_dirs(&mirror, 0o755)?;
    Ok(mirror)
}

/// Hard-links the tree `from` into `to` (directories made, entries already
/// there kept); copies where a hard link cannot be made (another
/// filesystem). The links share root's inodes: read-only to others.
fn link_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("mkdir {to:?}"))?;
    set_mode(to, 0o755)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {from:?}"))? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            link_tree(&src, &dst)?;
        } else if dst.symlink_metadata().is_ok() {
            continue;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if std::fs::hard_link(&src, &dst).is_err() {
            copy_file(&src, &dst)?;
        }
    }
    Ok(())
}

/// Seeds a learner's target dir from the cache: the outputs rustc and the
/// linker only ever replace (rlibs, rmeta, proc-macro .so, build-script
/// executables and out dirs) as hard links to the root-owned cache, the
/// files cargo rewrites in place (fingerprints, dep-info, build-script
/// output) as copies the build user owns. Mtimes are kept: cargo compares
/// them.
fn seed_tree(from: &Path, to: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    fn walk(from: &Path, to: &Path, rel: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
        std::fs::create_dir_all(to)?;
        chown(to, Some(uid), Some(gid))?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let name = entry.file_name();
            let (src, dst, rel) = (entry.path(), to.join(&name), rel.join(&name));
            if entry.file_type()?.is_dir() {
                walk(&src, &dst, &rel, uid, gid)?;
                continue;
            }
            let file = name.to_string_lossy();
            let rewritten = rel.starts_with(".fingerprint")
                || file.ends_with(".d")
                || (rel.starts_with("build")
                    && rel.components().count() == 3
                    && ["output", "root-output", "stderr", "invoked.timestamp"]
                        .contains(&file.as_ref()));
            if rewritten || std::fs::hard_link(&src, &dst).is_err() {
                copy_file(&src, &dst)?;
                chown(&dst, Some(uid), Some(gid))?;
            }
        }
        Ok(())
    }
    walk(from, to, Path::new(""), uid, gid)
}

/// Copies a tree, keeping modes, symlinks and file mtimes; `skip(rel)`
/// leaves entries out.
fn copy_tree(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) -> anyhow::Result<()> {
    fn walk(
        from: &Path,
        to: &Path,
        rel: &Path,
        skip: &dyn Fn(&Path) -> bool,
    ) -> anyhow::Result<()> {
        std::fs::create_dir_all(to).with_context(|| format!("mkdir {to:?}"))?;
        for entry in std::fs::read_dir(from).with_context(|| format!("reading {from:?}"))? {
            let entry = entry?;
            let rel = rel.join(entry.file_name());
            if skip(&rel) {
                continue;
            }
            let (src, dst) = (entry.path(), to.join(entry.file_name()));
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(&src, &dst, &rel, skip)?;
                let mode = entry.metadata()?.permissions().mode();
                set_mode(&dst, mode & 0o7777 | 0o700)?;
            } else if kind.is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
            } else if kind.is_file() {
                copy_file(&src, &dst)?;
            }
        }
        Ok(())
    }
    if std::fs::metadata(from)?.is_file() {
        return copy_file(from, to);
    }
    walk(from, to, Path::new(""), skip)
}

/// `cp -p` for one file: contents, mode, mtime.
fn copy_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::copy(from, to).with_context(|| format!("cp {from:?} {to:?}"))?;
    let modified = std::fs::metadata(from)?.modified()?;
    std::fs::File::options()
        .write(true)
        .open(to)?
        .set_modified(modified)
        .with_context(|| format!("setting the mtime of {to:?}"))?;
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {path:?}"))
}

fn chmod_dirs(dir: &Path, mode: u32) -> anyhow::Result<()> {
    set_mode(dir, mode)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            chmod_dirs(&entry.path(), mode)?;
        }
    }
    Ok(())
}

/// `chown -hR uid:gid`.
fn chown_tree(path: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    let meta = path.symlink_metadata()?;
    if meta.uid() != uid || meta.gid() != gid {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
            .with_context(|| format!("chown {uid}:{gid} {path:?}"))?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Runs `cmd` in a process group of its own, collecting stdout and stderr,
/// killing the group at `limit`. `Ok((None, ..))`: it ran out of time.
/// While it runs, its pid is in `registry` (if given).
pub(crate) fn run_limited(
    mut cmd: Command,
    limit: Duration,
    registry: Option<&Mutex<BTreeSet<u32>>>,
) -> std::io::Result<(Option<std::process::ExitStatus>, String, String)> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout kills rustc and build
        // scripts too.
        .process_group(0);
    // Registered under the lock it is spawned under: a cleanup between the
    // spawn and the registration would kill it.
    let mut guard = registry.map(|r| r.lock().unwrap_or_else(|e| e.into_inner()));
    let mut child = cmd.spawn()?;
    let pid = child.id();
    if let Some(g) = guard.as_mut() {
        g.insert(pid);
    }
    drop(guard);
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = read(Box::new(child.stdout.take().expect("piped")));
    let err = read(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
                let _ = child.wait();
                break None;
            }
        }
    };
    // Whatever of the group is still around (a build script's child) goes.
    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
    if let Some(r) = registry {
        r.lock().unwrap_or_else(|e| e.into_inner()).remove(&pid);
    }
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok((status, stdout, stderr))
}

/// What cargo's `--message-format json` said.
#[derive(Debug, Default)]
struct Messages {
    /// Bin target name -> executable.
    bins: BTreeMap<String, PathBuf>,
    /// Package name -> rendered compiler errors.
    errors: BTreeMap<String, Vec<String>>,
    first_error: Option<String>,
    compiled: usize,
    fresh: usize,
    path_packages: BTreeSet<String>,
    /// The libraries of the checkout's own packages.
    libs: Vec<PathLib>,
}

/// A library of a path package as cargo built it: `deps/lib<krate>-<hash>.rlib`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathLib {
    pub package: String,
    pub krate: String,
    pub hash: String,
    /// The package's directory.
    pub dir: PathBuf,
}

fn parse_messages(stdout: &str) -> Messages {
    let mut m = Messages::default();
    for line in stdout.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let package_id = v["package_id"].as_str().unwrap_or("");
        let package = package_name(package_id);
        if package_id.starts_with("path+") {
            m.path_packages.insert(package.clone());
        }
        match v["reason"].as_str() {
            Some("compiler-artifact") => {
                if v["fresh"].as_bool() == Some(true) {
                    m.fresh += 1;
                } else {
                    m.compiled += 1;
                }
                let is_bin = v["target"]["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"));
                if let (true, Some(exe), Some(name)) = (
                    is_bin,
                    v["executable"].as_str(),
                    v["target"]["name"].as_str(),
                ) {
                    m.bins.insert(name.to_owned(), PathBuf::from(exe));
                }
                if let Some(lib) = path_lib(&v, package_id, &package) {
                    m.libs.push(lib);
                }
            }
            Some("compiler-message") if v["message"]["level"] == "error" => {
                let rendered = v["message"]["rendered"]
                    .as_str()
                    .or(v["message"]["message"].as_str())
                    .unwrap_or("error")
                    .trim_end()
                    .to_owned();
                if rendered.starts_with("error: aborting due to")
                    || rendered.starts_with("error: could not compile")
                {
                    continue;
                }
                m.first_error.get_or_insert_with(|| rendered.clone());
                m.errors.entry(package).or_default().push(rendered);
            }
            _ => {}
        }
    }
    m
}

/// A compiler-artifact of a path package's library, as a [`PathLib`].
fn path_lib(v: &serde_json::Value, package_id: &str, package: &str) -> Option<PathLib> {
    let is_lib = v["target"]["kind"]
        .as_array()
        .is_some_and(|k| k.iter().any(|k| k == "lib"));
    if !is_lib {
        return None;
    }
    let dir = package_id.strip_prefix("path+file://")?.split('#').next()?;
    let rlib = v["filenames"]
        .as_array()?
        .iter()
        .filter_map(|f| f.as_str())
        .find(|f| f.ends_with(".rlib"))?;
    let stem = Path::new(rlib).file_stem()?.to_str()?;
    let (krate, hash) = stem.strip_prefix("lib")?.rsplit_once('-')?;
    Some(PathLib {
        package: package.to_owned(),
        krate: krate.to_owned(),
        hash: hash.to_owned(),
        dir: PathBuf::from(dir),
    })
}

/// `path+file:///c/exercises/ex01-uts#ex01@0.1.0` -> `ex01`;
/// `registry+https://...#anyhow@1.0.1` -> `anyhow`;
/// `path+file:///c/testkit#0.1.0` -> `testkit`.
fn package_name(id: &str) -> String {
    let (url, frag) = id.rsplit_once('#').unwrap_or((id, ""));
    match frag.split_once('@') {
        Some((name, _)) => name.to_owned(),
        None => url.rsplit('/').next().unwrap_or(url).to_owned(),
    }
}

fn first_error_line(log: &str) -> Option<&str> {
    log.lines().map(str::trim).find(|l| l.starts_with("error"))
}

fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_from_ids() {
        assert_eq!(
            package_name("path+file:///c/exercises/ex01-uts#ex01@0.1.0"),
            "ex01"
        );
        assert_eq!(
            package_name("registry+https://github.com/rust-lang/crates.io-index#anyhow@1.0.104"),
            "anyhow"
        );
        assert_eq!(package_name("path+file:///c/testkit#0.1.0"), "testkit");
    }

    #[test]
    fn hashes_come_off_names() {
        assert_eq!(
            strip_hash("rootfs-fetcher-0a1b2c3d4e5f6789"),
            "rootfs-fetcher"
        );
        assert_eq!(strip_hash("libc-0a1b2c"), "libc");
        assert_eq!(strip_hash("serde_derive"), "serde_derive");
        assert_eq!(strip_hash("build-script-build"), "build-script-build");
    }

    #[test]
    fn messages_name_the_checkouts_libraries() {
        let line = r#"{"reason":"compiler-artifact","package_id":"path+file:///b/src/ada/steps/workshop#0.1.0","manifest_path":"/b/src/ada/steps/workshop/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"workshop","src_path":"/b/src/ada/steps/workshop/src/lib.rs","edition":"2024","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"1","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":false},"features":[],"filenames":["/b/target/ada/debug/deps/libworkshop-a3992b6e53696680.rlib","/b/target/ada/debug/deps/libworkshop-a3992b6e53696680.rmeta"],"executable":null,"fresh":true}"#;
        let m = parse_messages(line);
        assert_eq!(
            m.libs,
            [PathLib {
                package: "workshop".into(),
                krate: "workshop".into(),
                hash: "a3992b6e53696680".into(),
                dir: PathBuf::from("/b/src/ada/steps/workshop"),
            }]
        );
        let dep_info = "/b/target/ada/debug/deps/workshop-a3992b6e53696680.d: \
                        steps/workshop/src/lib.rs steps/workshop/src/cli.rs\n\n\
                        steps/workshop/src/lib.rs:\n";
        let files = support_files(dep_info, Path::new("/b/src/ada"), &m.libs[0].dir).unwrap();
        assert!(
            files.contains(&"steps/workshop/Cargo.toml".to_owned()),
            "{files:?}"
        );
        assert!(
            files.contains(&"steps/workshop/src/cli.rs".to_owned()),
            "{files:?}"
        );
        assert!(files.contains(&"Cargo.lock".to_owned()), "{files:?}");
    }

    #[test]
    fn messages_give_bins_errors_and_counts() {
        let out = [
            r#"{"reason":"compiler-artifact","package_id":"registry+https://x#anyhow@1.0.0","target":{"kind":["lib"],"name":"anyhow"},"executable":null,"fresh":true}"#,
            r#"{"reason":"compiler-artifact","package_id":"path+file:///c/exercises/ex01-uts#ex01@0.1.0","target":{"kind":["bin"],"name":"ex01"},"executable":"/t/debug/ex01","fresh":false}"#,
            r#"{"reason":"compiler-message","package_id":"path+file:///c/exercises/ex02-pid#ex02@0.1.0","message":{"level":"error","rendered":"error[E0308]: mismatched types\n --> src/init.rs:1:1"}}"#,
            r#"{"reason":"compiler-message","package_id":"path+file:///c/exercises/ex02-pid#ex02@0.1.0","message":{"level":"error","rendered":"error: aborting due to 1 previous error"}}"#,
            "not json",
        ]
        .join("\n");
        let m = parse_messages(&out);
        assert_eq!(m.bins.get("ex01"), Some(&PathBuf::from("/t/debug/ex01")));
        assert_eq!((m.compiled, m.fresh), (1, 1));
        assert_eq!(m.errors["ex02"].len(), 1);
        assert!(m.first_error.unwrap().starts_with("error[E0308]"));
        assert_eq!(
            m.path_packages,
            BTreeSet::from(["ex01".to_owned(), "ex02".to_owned()])
        );
    }
}
