//! Teeth per hole: each `todo!()` of a starter is tested on its own.
//!
//! That a starter fails its tests proves little: a `todo!()` panics
//! anyway. What matters is that each hole is checked, so every exercise
//! lists in `exercises/<dir>/mutants.toml`, for each function of its starter
//! whose body holds a `todo!(`, at least one mutant of the solution: a wrong
//! body that compiles (`find` replaced by `replace` in `file`, a
//! workspace-relative file the solution compiles: its own, or the step's it
//! includes by path) and the test of `exNN-solution` that must fail with it
//! (`caught_by`, an exact libtest name).
//!
//! For each exercise, [`check_exercise`]:
//!
//! 1. completeness: every hole has a mutant, every mutant names a hole;
//! 2. baseline: the `caught_by` tests, run unmutated (one `cargo test`),
//!    all exist and pass, and say in which test target each one lives;
//! 3. each mutant: `find` occurs once in `file`; the mutated file is
//!    written, `cargo test -p exNN-solution <target> -- --exact CAUGHT_BY`
//!    runs, and that test must have run and FAILED. The file is restored
//!    byte for byte afterwards, on error, panic and Ctrl-C too: the original
//!    is first saved under `target/teeth/backup/`, and a backup left there
//!    (a killed run) is put back before anything else runs ([`Backups`]).
//!
//! A mutant that does not compile proves nothing: it is a failure of its
//! own ("does not compile"), as is a hole with no mutant, a `mutants.toml`
//! that is missing, and of course a mutant that survives.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::teeth::collect_rs;

/// How long one `cargo test` of a mutant (an incremental build and one
/// test) may take before it is killed. The checks have their own limits
/// (testkit's runs stop after 30 s), so this only catches a hang.
const MUTANT_TIMEOUT: Duration = Duration::from_secs(900);

/// One entry of `mutants.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Mutant {
    /// The starter's function whose `todo!()` this mutant stands for.
    pub hole: String,
    /// Workspace-relative: the file of the solution that is mutated.
    pub file: String,
    /// Exact text, found exactly once in `file`.
    pub find: String,
    /// What replaces it: wrong, but it must compile.
    pub replace: String,
    /// One line: what is wrong with it.
    pub why: String,
    /// Exact libtest name of a test of `exNN-solution` that must fail.
    pub caught_by: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MutantsFile {
    #[serde(default)]
    mutant: Vec<Mutant>,
}

/// Parses a `mutants.toml`, and refuses an entry with an empty field.
pub fn parse_mutants(text: &str) -> Result<Vec<Mutant>> {
    let file: MutantsFile = toml::from_str(text)?;
    for (i, m) in file.mutant.iter().enumerate() {
        let fields = [
            ("hole", &m.hole),
            ("file", &m.file),
            ("find", &m.find),
            ("why", &m.why),
            ("caught_by", &m.caught_by),
        ];
        for (name, value) in fields {
            if value.trim().is_empty() {
                bail!("mutant {} (hole {:?}): `{name}` is empty", i + 1, m.hole);
            }
        }
        if m.find == m.replace {
            bail!(
                "mutant {} (hole {:?}): `replace` is `find`: it changes nothing",
                i + 1,
                m.hole
            );
        }
    }
    Ok(file.mutant)
}

/// A function of a starter whose body holds a `todo!(`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hole {
    /// The function's name (a method's too: `full` of `impl Maps`).
    pub name: String,
    /// Where: relative to the exercise's directory (`src/uts.rs`).
    pub file: String,
}

/// `text` with every comment, string and character literal blanked out
/// (replaced by spaces, newlines kept), so that a `todo!(` or a brace in
/// one is not taken for code. One `char` per input `char`.
fn code_only(text: &str) -> Vec<char> {
    let src: Vec<char> = text.chars().collect();
    let mut out = src.clone();
    let blank = |out: &mut Vec<char>, from: usize, to: usize| {
        for c in &mut out[from..to.min(src.len())] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    let at = |i: usize| src.get(i).copied().unwrap_or('\0');
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        let ident_before = i > 0 && (src[i - 1].is_alphanumeric() || src[i - 1] == '_');
        if c == '/' && at(i + 1) == '/' {
            let end = (i..src.len())
                .find(|&j| src[j] == '\n')
                .unwrap_or(src.len());
            blank(&mut out, i, end);
            i = end;
        } else if c == '/' && at(i + 1) == '*' {
            // Block comments nest in Rust.
            let (mut depth, mut j) = (0usize, i);
            while j < src.len() {
                if src[j] == '/' && at(j + 1) == '*' {
                    depth += 1;
                    j += 2;
                } else if src[j] == '*' && at(j + 1) == '/' {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if let Some((start, hashes)) = raw_string_at(&src, i).filter(|_| !ident_before) {
            // A raw string: r"...", r#"..."#, br"...".
            let mut j = start + hashes + 1;
            while j < src.len() {
                if src[j] == '"' && (0..hashes).all(|h| at(j + 1 + h) == '#') {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            blank(&mut out, i, j);
            i = j;
        } else if c == '"' {
            let mut j = i + 1;
            while j < src.len() && src[j] != '"' {
                j += if src[j] == '\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if c == '\'' {
            // A char literal ('a', '\n', '\u{1F600}', '\''), or a lifetime ('a).
            if at(i + 1) == '\\' {
                let mut j = i + 2;
                j += 1; // the escaped character itself, which may be a quote
                while j < src.len() && src[j] != '\'' {
                    j += 1;
                }
                blank(&mut out, i, j + 1);
                i = j + 1;
            } else if at(i + 2) == '\'' {
                blank(&mut out, i, i + 3);
                i += 3;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

/// At `i`, the start of a raw string (`r"`, `r#"`, `br#"`...): where its
/// `#`s start, and how many there are.
fn raw_string_at(src: &[char], i: usize) -> Option<(usize, usize)> {
    let start = match (src.get(i), src.get(i + 1)) {
        (Some('r'), _) => i + 1,
        (Some('b'), Some('r')) => i + 2,
        _ => return None,
    };
    let hashes = src[start.min(src.len())..]
        .iter()
        .take_while(|&&c| c == '#')
        .count();
    (src.get(start + hashes) == Some(&'"')).then_some((start, hashes))
}

/// The names of the functions in `text` whose body holds a `todo!(`: for
/// each `todo!(` (outside comments and strings), the innermost `fn` whose
/// body contains it. Sorted, each once.
pub fn holes_in_source(text: &str) -> Vec<String> {
    let code = code_only(text);
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    // Every fn with a body: (name, offset of its `{`, offset of its `}`).
    let mut fns: Vec<(String, usize, usize)> = Vec::new();
    let mut i = 0;
    while i + 3 <= code.len() {
        let word_start = i == 0 || !is_ident(code[i - 1]);
        if !(word_start && code[i..i + 2] == ['f', 'n'] && code[i + 2].is_whitespace()) {
            i += 1;
            continue;
        }
        let mut j = i + 2;
        while j < code.len() && code[j].is_whitespace() {
            j += 1;
        }
        let name_start = j;
        while j < code.len() && is_ident(code[j]) {
            j += 1;
        }
        let name: String = code[name_start..j].iter().collect();
        if name.is_empty() {
            i = j;
            continue;
        }
        // The body is the first `{` after the signature, unless a `;` ends
        // the declaration first (a trait's fn without a default body).
        // Parentheses and angle brackets of the signature hold no `{`
        // except const generics' blocks, which no starter uses.
        let Some(open) = (j..code.len()).find(|&k| code[k] == '{' || code[k] == ';') else {
            break;
        };
        if code[open] == ';' {
            i = open;
            continue;
        }
        let mut depth = 0usize;
        let mut close = None;
        for (k, &c) in code.iter().enumerate().skip(open) {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(k);
                        break;
                    }
                }
                _ => {}
            }
        }
        let close = close.unwrap_or(code.len());
        fns.push((name, open, close));
        // Go on inside the body: a nested fn is a fn of its own.
        i = open + 1;
    }
    let needle: Vec<char> = "todo!(".chars().collect();
    let mut holes = Vec::new();
    for at in 0..code.len().saturating_sub(needle.len() - 1) {
        if code[at..at + needle.len()] != needle[..] || (at > 0 && is_ident(code[at - 1])) {
            continue;
        }
        // Innermost: of the fns whose body contains it, the last to open.
        if let Some((name, _, _)) = fns
            .iter()
            .filter(|(_, open, close)| *open < at && at < *close)
            .max_by_key(|(_, open, _)| *open)
        {
            holes.push(name.clone());
        }
    }
    holes.sort();
    holes.dedup();
    holes
}

/// Every hole of the starter in `exercise_dir` (its `src/**/*.rs`).
pub fn starter_holes(exercise_dir: &Path) -> Result<Vec<Hole>> {
    let mut files = Vec::new();
    collect_rs(&exercise_dir.join("src"), &mut files)?;
    let mut holes = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).with_context(|| format!("reading {file:?}"))?;
        let rel = file
            .strip_prefix(exercise_dir)
            .unwrap_or(&file)
            .display()
            .to_string();
        for name in holes_in_source(&text) {
            holes.push(Hole {
                name,
                file: rel.clone(),
            });
        }
    }
    holes.sort();
    Ok(holes)
}

/// What completeness finds wrong: holes with no mutant, and mutants that
/// name no hole. One sentence each.
pub fn completeness(holes: &[Hole], mutants: &[Mutant]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for hole in holes {
        if !mutants.iter().any(|m| m.hole == hole.name) {
            problems.push((
                hole.name.clone(),
                format!("UNCOVERED: no mutant for this hole of {}", hole.file),
            ));
        }
    }
    for m in mutants {
        if !holes.iter().any(|h| h.name == m.hole) {
            problems.push((
                m.hole.clone(),
                format!(
                    "NOT A HOLE: no fn {:?} of the starter holds a todo!()",
                    m.hole
                ),
            ));
        }
    }
    // Two holes of one name (in two files, or two impls) could not be told
    // apart by a mutant's `hole`.
    for pair in holes.windows(2) {
        if pair[0].name == pair[1].name {
            problems.push((
                pair[0].name.clone(),
                format!(
                    "AMBIGUOUS: two holes named {:?} ({} and {})",
                    pair[0].name, pair[0].file, pair[1].file
                ),
            ));
        }
    }
    problems
}

/// The one replacement a mutant makes, or why it cannot be made.
pub fn mutate(original: &str, find: &str, replace: &str) -> Result<String, String> {
    match original.matches(find).count() {
        1 => Ok(original.replacen(find, replace, 1)),
        0 => Err("`find` not found in the file".to_owned()),
        n => Err(format!("`find` occurs {n} times in the file, not once")),
    }
}

/// Set by SIGINT, SIGTERM and SIGHUP while teeth runs: the running `cargo
/// test` is stopped, the file restored, and teeth ends.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Routes Ctrl-C (and SIGTERM, SIGHUP) to [`INTERRUPTED`] instead of death,
/// so a mutated file is always restored. The `cargo test` children run in a
/// process group of their own, and get the signal from [`run_cargo`].
pub fn catch_interrupts() -> Result<()> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; it replaces the default action (death).
        unsafe { sigaction(signal, &action) }.context("installing a signal handler")?;
    }
    Ok(())
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The originals of mutated files, kept under `target/teeth/backup/` (at
/// the file's workspace-relative path) while a mutant is in place.
pub struct Backups {
    root: PathBuf,
    dir: PathBuf,
}

impl Backups {
    pub fn new(root: &Path) -> Backups {
        Backups {
            root: root.to_path_buf(),
            dir: root.join("target/teeth/backup"),
        }
    }

    /// Makes sure no other teeth runs in this workspace (its mutant would
    /// be taken for a leftover): an exclusive lock on
    /// `target/teeth/lock`, held as long as the returned value lives.
    pub fn lock(&self) -> Result<nix::fcntl::Flock<fs::File>> {
        let path = self.root.join("target/teeth/lock");
        fs::create_dir_all(path.parent().context("lock path")?)?;
        let file = fs::File::create(&path).with_context(|| format!("creating {path:?}"))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(
            |(_, errno)| {
                anyhow::anyhow!(
                    "another `cargo xtask teeth` is running in this workspace ({path:?}: {errno}); wait for it"
                )
            },
        )
    }

    /// Puts back every original a killed run left behind. Returns the
    /// files restored.
    pub fn restore_leftovers(&self) -> Result<Vec<String>> {
        let mut found = Vec::new();
        if self.dir.exists() {
            collect_files(&self.dir, &mut found)?;
        }
        let mut restored = Vec::new();
        for backup in found {
            let rel = backup.strip_prefix(&self.dir)?.to_path_buf();
            let original = fs::read(&backup)?;
            write_synced(&self.root.join(&rel), &original)
                .with_context(|| format!("restoring {rel:?} from {backup:?}"))?;
            fs::remove_file(&backup)?;
            restored.push(rel.display().to_string());
        }
        Ok(restored)
    }

    /// Writes `mutated` over `rel` (whose content is `original`) until the
    /// returned guard is dropped, which restores `original`.
    ///
    /// `rebuild`: the crate root of the one package whose build may see the
    /// mutant, when no other package compiled during it holds `rel`. The
    /// restored file then gets its old mtime back, so cargo does not
    /// rebuild the steps that own it (and every later step) in the phases
    /// after teeth, and `rebuild`'s mtime is set to now instead, so the
    /// package that was built with the mutant is rebuilt from the original.
    /// None: `rel` keeps a new mtime, and whatever compiles it is rebuilt.
    fn apply(
        &self,
        rel: &str,
        original: &[u8],
        mutated: &[u8],
        rebuild: Option<PathBuf>,
    ) -> Result<Applied> {
        let backup = self.dir.join(rel);
        fs::create_dir_all(backup.parent().context("backup path")?)?;
        write_synced(&backup, original).with_context(|| format!("backing up to {backup:?}"))?;
        let path = self.root.join(rel);
        let mtime = match rebuild {
            Some(root) => Some((fs::metadata(&path)?.modified()?, root)),
            None => None,
        };
        let applied = Applied {
            path,
            backup,
            original: original.to_vec(),
            mtime,
        };
        write_synced(&applied.path, mutated)
            .with_context(|| format!("writing the mutant into {rel}"))?;
        Ok(applied)
    }
}

/// A mutant in place; dropping it (the normal end, an error, a panic)
/// restores the original and removes its backup.
struct Applied {
    path: PathBuf,
    backup: PathBuf,
    original: Vec<u8>,
    /// The file's mtime to put back, and the crate root to touch then.
    mtime: Option<(std::time::SystemTime, PathBuf)>,
}

impl Drop for Applied {
    fn drop(&mut self) {
        match write_synced(&self.path, &self.original) {
            Ok(()) => {
                if let Some((mtime, crate_root)) = &self.mtime {
                    // The crate root first: if that fails, the file keeps
                    // its new mtime, which is merely slower.
                    let touched = fs::File::options()
                        .append(true)
                        .open(crate_root)
                        .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                    if touched.is_ok() {
                        let _ = fs::File::options()
                            .append(true)
                            .open(&self.path)
                            .and_then(|f| f.set_modified(*mtime));
                    }
                }
                let _ = fs::remove_file(&self.backup);
            }
            Err(e) => eprintln!(
                "teeth: CANNOT RESTORE {:?} ({e}); its original is {:?}",
                self.path, self.backup
            ),
        }
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

fn collect_files(dir: &Path, into: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, into)?;
        } else {
            into.push(path);
        }
    }
    Ok(())
}

/// `file` as git's HEAD has it, or None when git cannot tell (no
/// repository, or a file HEAD does not have).
fn head_version(root: &Path, rel: &str) -> Option<Vec<u8>> {
    let out = Command::new("git")
        .args(["show", &format!("HEAD:{rel}")])
        .current_dir(root)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// Refuses to mutate a file that is not as HEAD has it, unless what
/// differs is exactly one of its mutants, left in place by a run whose
/// backup was lost: that one is undone.
fn check_pristine(root: &Path, rel: &str, mutants: &[&Mutant]) -> Result<()> {
    let path = root.join(rel);
    let working = fs::read(&path).with_context(|| format!("reading {rel}"))?;
    let Some(head) = head_version(root, rel) else {
        bail!("{rel}: git does not know it at HEAD; teeth mutates only committed files");
    };
    if working == head {
        return Ok(());
    }
    let head_text = String::from_utf8_lossy(&head);
    for m in mutants {
        if let Ok(mutated) = mutate(&head_text, &m.find, &m.replace) {
            if mutated.as_bytes() == working {
                eprintln!("teeth: {rel} held a leftover mutant ({}); restored", m.why);
                write_synced(&path, &head)?;
                return Ok(());
            }
        }
    }
    bail!(
        "{rel} differs from git HEAD, and not by a mutant of teeth: commit or stash the change first (teeth writes mutants into it and restores HEAD's bytes)"
    )
}

/// What became of one mutant, or of a hole or file before any mutant ran.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The test ran and failed: the hole has teeth.
    Caught,
    Survived,
    DoesNotCompile(String),
    /// Anything else that proves nothing: the test did not run, the
    /// mutant cannot be applied, a timeout, a missing file.
    Broken(String),
}

impl Outcome {
    fn ok(&self) -> bool {
        *self == Outcome::Caught
    }

    fn text(&self) -> String {
        match self {
            Outcome::Caught => "caught".into(),
            Outcome::Survived => "SURVIVED".into(),
            Outcome::DoesNotCompile(e) => format!("DOES NOT COMPILE: {e}"),
            Outcome::Broken(e) => format!("FAIL: {e}"),
        }
    }
}

/// One row of the table.
pub struct Row {
    pub exercise: String,
    pub hole: String,
    pub why: String,
    pub caught_by: String,
    pub outcome: Outcome,
    pub took: Duration,
}

/// Checks every hole of one exercise (`dir` under `exercises/`, package
/// `package`); one row per mutant, or per problem found before.
pub fn check_exercise(root: &Path, dir: &str, package: &str) -> Result<Vec<Row>> {
    let row = |hole: &str, why: &str, caught_by: &str, outcome: Outcome, took| Row {
        exercise: package.to_owned(),
        hole: hole.to_owned(),
        why: why.to_owned(),
        caught_by: caught_by.to_owned(),
        outcome,
        took,
    };
    let zero = Duration::ZERO;
    let exercise_dir = root.join("exercises").join(dir);
    let toml_path = exercise_dir.join("mutants.toml");
    let Ok(text) = fs::read_to_string(&toml_path) else {
        return Ok(vec![row(
            "-",
            "-",
            "-",
            Outcome::Broken(format!("no mutants.toml in exercises/{dir}")),
            zero,
        )]);
    };
    let mutants = match parse_mutants(&text) {
        Ok(m) => m,
        Err(e) => {
            return Ok(vec![row(
                "-",
                "-",
                "-",
                Outcome::Broken(format!("exercises/{dir}/mutants.toml: {e:#}")),
                zero,
            )]);
        }
    };
    let holes = starter_holes(&exercise_dir)?;
    let mut rows: Vec<Row> = completeness(&holes, &mutants)
        .into_iter()
        .map(|(hole, problem)| row(&hole, "-", "-", Outcome::Broken(problem), zero))
        .collect();
    if holes.is_empty() {
        rows.push(row(
            "-",
            "-",
            "-",
            Outcome::Broken("the starter has no todo!() hole".into()),
            zero,
        ));
    }

    // Every file is as HEAD has it (or a leftover mutant, undone), before
    // the baseline runs on it.
    let mut by_file: BTreeMap<&str, Vec<&Mutant>> = BTreeMap::new();
    for m in &mutants {
        by_file.entry(m.file.as_str()).or_default().push(m);
    }
    for (file, ms) in &by_file {
        check_pristine(root, file, ms)?;
    }

    let solution = format!("{package}-solution");
    let mut names: Vec<&str> = mutants.iter().map(|m| m.caught_by.as_str()).collect();
    names.sort();
    names.dedup();
    eprintln!(
        "teeth: {solution}: baseline, {} test(s) unmutated ...",
        names.len()
    );
    let t0 = Instant::now();
    let baseline = run_tests(root, &solution, &names)?;
    let baseline_took = t0.elapsed();
    println!(
        "teeth: {solution}: baseline ({} test(s) unmutated, their build included) in {:.1} s",
        names.len(),
        baseline_took.as_secs_f64()
    );
    if let Some(e) = baseline.build_error {
        rows.push(row(
            "-",
            "baseline: the solution unmutated",
            "-",
            Outcome::DoesNotCompile(e),
            baseline_took,
        ));
        return Ok(rows);
    }

    let backups = Backups::new(root);
    let graph = Graph::load(root)?;
    for m in &mutants {
        if interrupted() {
            bail!("interrupted");
        }
        let outcome_row = |outcome, took| row(&m.hole, &m.why, &m.caught_by, outcome, took);
        // The test must exist, and pass as long as nothing is mutated.
        let Some((_, passed)) = baseline.results.get(&m.caught_by) else {
            rows.push(outcome_row(
                Outcome::Broken(format!(
                    "no test named {} in {solution} (0 tests ran)",
                    m.caught_by
                )),
                zero,
            ));
            continue;
        };
        if !passed {
            rows.push(outcome_row(
                Outcome::Broken("the test fails on the solution unmutated".into()),
                zero,
            ));
            continue;
        }
        let path = root.join(&m.file);
        let Ok(original) = fs::read(&path) else {
            rows.push(outcome_row(
                Outcome::Broken(format!("no file {}", m.file)),
                zero,
            ));
            continue;
        };
        let text = String::from_utf8_lossy(&original).into_owned();
        let mutated = match mutate(&text, &m.find, &m.replace) {
            Ok(t) => t,
            Err(e) => {
                rows.push(outcome_row(Outcome::Broken(e), zero));
                continue;
            }
        };
        eprintln!("teeth: {package} {}: {} ...", m.hole, m.why);
        let t0 = Instant::now();
        let result = {
            let rebuild = graph.only_builder(&solution, &root.join(&m.file));
            let _applied = backups.apply(&m.file, &original, mutated.as_bytes(), rebuild)?;
            run_tests(root, &solution, &[m.caught_by.as_str()])
            // _applied drops here: the original is back before anything else.
        };
        let took = t0.elapsed();
        let result = result?;
        let outcome = if let Some(e) = result.build_error {
            Outcome::DoesNotCompile(e)
        } else if result.timed_out {
            Outcome::Broken(format!("timed out after {MUTANT_TIMEOUT:?}"))
        } else {
            match result.results.get(&m.caught_by) {
                Some((_, false)) => Outcome::Caught,
                Some((_, true)) => Outcome::Survived,
                None if result.crashed => Outcome::Caught,
                None => Outcome::Broken("the test did not run (0 tests ran)".into()),
            }
        };
        eprintln!(
            "teeth: {package} {}: {} in {:.1} s",
            m.hole,
            outcome.text(),
            took.as_secs_f64()
        );
        rows.push(outcome_row(outcome, took));
    }
    if interrupted() {
        bail!("interrupted");
    }
    Ok(rows)
}

/// The workspace's packages and what each depends on (`cargo metadata`).
struct Graph {
    /// name → (manifest dir, crate roots of its targets, its dependencies' names).
    packages: BTreeMap<String, (PathBuf, Vec<PathBuf>, Vec<String>)>,
}

impl Graph {
    fn load(root: &Path) -> Result<Graph> {
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["metadata", "--format-version", "1", "--offline"])
            .current_dir(root)
            .stderr(Stdio::inherit())
            .output()
            .context("cannot run cargo metadata")?;
        if !out.status.success() {
            bail!("cargo metadata failed");
        }
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let mut names = BTreeMap::new();
        let mut packages = BTreeMap::new();
        for p in meta["packages"].as_array().into_iter().flatten() {
            let (Some(id), Some(name), Some(manifest)) = (
                p["id"].as_str(),
                p["name"].as_str(),
                p["manifest_path"].as_str(),
            ) else {
                continue;
            };
            names.insert(id.to_owned(), name.to_owned());
            let roots = p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["src_path"].as_str().map(PathBuf::from))
                .collect();
            let dir = Path::new(manifest).parent().unwrap_or(root).to_path_buf();
            packages.insert(name.to_owned(), (dir, roots, Vec::new()));
        }
        for node in meta["resolve"]["nodes"].as_array().into_iter().flatten() {
            let Some(name) = node["id"].as_str().and_then(|id| names.get(id)) else {
                continue;
            };
            let deps: Vec<String> = node["deps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d["pkg"].as_str().and_then(|id| names.get(id)).cloned())
                .collect();
            if let Some(entry) = packages.get_mut(name) {
                entry.2 = deps;
            }
        }
        Ok(Graph { packages })
    }

    /// The crate root of `package`'s main target (`src/main.rs` or
    /// `src/lib.rs`) when no package it depends on, directly or not, lies
    /// around `file`: then a build of `package` compiles `file` in
    /// `package` alone. None when a dependency may hold it, or when
    /// anything is unknown.
    fn only_builder(&self, package: &str, file: &Path) -> Option<PathBuf> {
        let (_, roots, _) = self.packages.get(package)?;
        let root = roots
            .iter()
            .find(|r| r.ends_with("src/main.rs") || r.ends_with("src/lib.rs"))?
            .clone();
        // The package that owns `file`: the deepest manifest dir around it.
        let owner = self
            .packages
            .iter()
            .filter(|(_, (dir, _, _))| file.starts_with(dir))
            .max_by_key(|(_, (dir, _, _))| dir.components().count())
            .map(|(name, _)| name.clone());
        let mut seen = std::collections::BTreeSet::new();
        let mut queue: Vec<&str> = vec![package];
        while let Some(p) = queue.pop() {
            if !seen.insert(p.to_owned()) {
                continue;
            }
            if p != package && owner.as_deref() == Some(p) {
                return None;
            }
            if let Some((_, _, deps)) = self.packages.get(p) {
                queue.extend(deps.iter().map(String::as_str));
            }
        }
        Some(root)
    }
}

/// What one `cargo test ... -- --exact NAMES` said.
#[derive(Debug, Default)]
pub struct TestRun {
    /// Per test name: the `cargo test` target selector of its binary
    /// (`--bins`, `--test behaviour`, ...; None if unknown) and whether
    /// it passed.
    pub results: BTreeMap<String, (Option<String>, bool)>,
    /// The build failed: its first error line.
    pub build_error: Option<String>,
    /// A test binary died (a signal, an abort) while running.
    pub crashed: bool,
    pub timed_out: bool,
}

/// Reads the merged output of `cargo test`: cargo's `Running TARGET`
/// lines (stderr) in front of each binary's `test NAME ... ok` lines.
pub fn parse_test_output(out: &str) -> TestRun {
    let mut run = TestRun::default();
    let mut target: Option<String> = None;
    for line in out.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("Running ") {
            target = target_selector(rest);
            continue;
        }
        if let Some(rest) = line.strip_prefix("test ") {
            if let Some((name, verdict)) = rest.split_once(" ... ") {
                let passed = match verdict.trim() {
                    "ok" => true,
                    "FAILED" => false,
                    _ => continue,
                };
                run.results
                    .insert(name.to_owned(), (target.clone(), passed));
            }
            continue;
        }
        if trimmed.contains("process didn't exit successfully") && trimmed.contains("(signal:") {
            run.crashed = true;
        }
    }
    let compile_failed = out.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("error: could not compile") || l.starts_with("error[E")
    });
    if compile_failed {
        run.build_error = Some(
            out.lines()
                .map(str::trim_start)
                .find(|l| l.starts_with("error[E") || l.starts_with("error:"))
                .unwrap_or("(no error line)")
                .to_owned(),
        );
    }
    run
}

/// `unittests src/main.rs (target/...)` → `--bins`, `tests/behaviour.rs
/// (...)` → `--test behaviour`, ...: what selects that binary alone.
fn target_selector(running: &str) -> Option<String> {
    let source = running.split(" (").next()?.trim();
    if let Some(src) = source.strip_prefix("unittests ") {
        return match src {
            "src/main.rs" => Some("--bins".into()),
            "src/lib.rs" => Some("--lib".into()),
            other => other
                .strip_prefix("src/bin/")
                .and_then(|f| f.strip_suffix(".rs"))
                .map(|bin| format!("--bin {bin}")),
        };
    }
    source
        .strip_prefix("tests/")
        .and_then(|f| f.strip_suffix(".rs"))
        .filter(|name| !name.contains('/'))
        .map(|name| format!("--test {name}"))
}

/// `unshare --uts -- cargo test -p PACKAGE --no-fail-fast -- --exact NAMES...`,
/// every test target of the package, as the baseline builds them: one
/// selected with `--bins` or `--test` is built with other features of the
/// dependencies, which rebuilds them (minutes) for the first mutant.
/// stdout and stderr in one file (so cargo's `Running` lines stay in front
/// of their tests), in a process group of its own: a timeout or Ctrl-C
/// stops all of it.
fn run_tests(root: &Path, package: &str, names: &[&str]) -> Result<TestRun> {
    let log_path = root.join("target/teeth/cargo.log");
    fs::create_dir_all(log_path.parent().context("log path")?)?;
    let log = fs::File::create(&log_path)?;
    // In a UTS namespace of its own: a mutant that forgets CLONE_NEWUTS (or
    // sets the hostname before it) renames a throwaway namespace, which the
    // checks compare with, instead of this machine.
    let mut cmd = Command::new("unshare");
    cmd.args(["--uts", "--"])
        .arg(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "-p", package]);
    cmd.args(["--no-fail-fast", "--", "--exact"])
        .args(names)
        .current_dir(root)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    let mut child = cmd.spawn().context("cannot run cargo")?;
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let started = Instant::now();
    let mut timed_out = false;
    let mut signalled = false;
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if !signalled && (interrupted() || started.elapsed() > MUTANT_TIMEOUT) {
            timed_out = !interrupted();
            let signal = if timed_out {
                nix::sys::signal::Signal::SIGKILL
            } else {
                nix::sys::signal::Signal::SIGINT
            };
            let _ = nix::sys::signal::killpg(pgid, signal);
            signalled = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = fs::read(&log_path)?;
    let mut run = parse_test_output(&String::from_utf8_lossy(&out));
    run.timed_out = timed_out;
    Ok(run)
}

/// Prints the table, and says whether every row is good.
pub fn print_table(rows: &[Row]) -> bool {
    let cut = |s: &str, n: usize| {
        if s.chars().count() > n {
            let mut t: String = s.chars().take(n - 1).collect();
            t.push('…');
            t
        } else {
            s.to_owned()
        }
    };
    println!(
        "{:<8} {:<16} {:<44} {:<36} {:<10} {:>6}",
        "exercise", "hole", "mutant (why)", "caught by", "result", "secs"
    );
    for r in rows {
        println!(
            "{:<8} {:<16} {:<44} {:<36} {:<10} {:>6.1}",
            r.exercise,
            cut(&r.hole, 16),
            cut(&r.why, 44),
            cut(&r.caught_by, 36),
            r.outcome.text(),
            r.took.as_secs_f64()
        );
    }
    rows.iter().all(|r| r.outcome.ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mutants_file_is_parsed_and_checked() {
        let text = r#"
# Per-hole teeth.
[[mutant]]
hole = "enter_new_uts"
file = "solutions/ex01-uts/src/uts.rs"
find = """
    call("unshare")?;"""
replace = ""
why = "no new UTS namespace"
caught_by = "uts::uts_namespace_differs"
"#;
        let m = parse_mutants(text).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].find, "    call(\"unshare\")?;");
        assert_eq!(m[0].replace, "");
        assert_eq!(m[0].caught_by, "uts::uts_namespace_differs");
        // A misspelt field, an empty one, a mutant that changes nothing.
        let typo = text.replace("caught_by", "caughtby");
        assert!(parse_mutants(&typo).is_err());
        assert!(parse_mutants(&text.replace("no new UTS namespace", " ")).is_err());
        let same = text.replace(
            "replace = \"\"",
            "replace = \"\"\"\n    call(\"unshare\")?;\"\"\"",
        );
        assert!(parse_mutants(&same).is_err());
        assert!(parse_mutants("").unwrap().is_empty());
    }

    #[test]
    fn holes_are_the_fns_whose_body_holds_a_todo() {
        let src = r##"
//! The doc says: fn fake() { todo!("not code") }
/* fn commented() { todo!() } /* nested */ still a comment todo!( */
use std::fmt;

pub fn given(x: u32) -> u32 {
    let s = "todo!( in a string { brace";
    let r = r#"fn raw() { todo!() }"#;
    let c = '{';
    x + s.len() as u32 + r.len() as u32 + c as u32
}

/// Generic, with a where clause and a lifetime.
pub fn hole_one<'a, T>(t: &'a T) -> &'a T
where
    T: fmt::Debug,
{
    todo!("write me {t:?}")
}

impl Maps {
    pub fn full(uid: u32) -> Maps {
        // A comment with a } brace.
        todo!("exercise: {uid}")
    }
}

trait Hooks {
    fn declared(&self);
    fn defaulted(&self) {}
}

fn outer() {
    fn inner() {
        todo!()
    }
    let closure = || 1;
    inner();
}

fn mytodo!() {}
fn not_a_hole() { my_todo!(); }
"##;
        assert_eq!(holes_in_source(src), ["full", "hole_one", "inner"]);
    }

    #[test]
    fn every_hole_needs_a_mutant_and_every_mutant_a_hole() {
        let hole = |name: &str, file: &str| Hole {
            name: name.into(),
            file: file.into(),
        };
        let mutant = |hole: &str| Mutant {
            hole: hole.into(),
            file: "f.rs".into(),
            find: "a".into(),
            replace: "b".into(),
            why: "w".into(),
            caught_by: "t".into(),
        };
        let holes = [
            hole("decide", "src/filter.rs"),
            hole("compare", "src/filter.rs"),
        ];
        assert!(
            completeness(
                &holes,
                &[mutant("decide"), mutant("compare"), mutant("compare")]
            )
            .is_empty()
        );
        let problems = completeness(&holes, &[mutant("decide"), mutant("compar")]);
        let names: Vec<&str> = problems.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(names, ["compare", "compar"]);
        assert!(problems[0].1.starts_with("UNCOVERED"));
        assert!(problems[1].1.starts_with("NOT A HOLE"));
        let twice = [hole("new", "src/a.rs"), hole("new", "src/b.rs")];
        assert!(
            completeness(&twice, &[mutant("new")])[0]
                .1
                .starts_with("AMBIGUOUS")
        );
    }

    #[test]
    fn a_mutant_applies_only_to_text_found_once() {
        assert_eq!(mutate("a b c", "b", "x").unwrap(), "a x c");
        assert!(mutate("a b c", "z", "x").unwrap_err().contains("not found"));
        assert!(mutate("b b", "b", "x").unwrap_err().contains("2 times"));
    }

    #[test]
    fn test_output_gives_each_tests_verdict_and_binary() {
        let out = "\
   Compiling ex07-solution v0.1.0
    Finished `test` profile
     Running unittests src/main.rs (target/debug/deps/ex07_solution-1)

running 1 test
test filter_tests::x32_is_killed ... FAILED

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 40 filtered out
     Running tests/behaviour.rs (target/debug/deps/behaviour-2)

running 1 test
test seccomp::mkdir_is_allowed ... ok
test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 60 filtered out
";
        let run = parse_test_output(out);
        assert_eq!(
            run.results["filter_tests::x32_is_killed"],
            (Some("--bins".into()), false)
        );
        assert_eq!(
            run.results["seccomp::mkdir_is_allowed"],
            (Some("--test behaviour".into()), true)
        );
        assert!(run.build_error.is_none() && !run.crashed);
        // Nothing ran: no verdict at all, which is not a pass.
        let none = parse_test_output(
            "     Running tests/behaviour.rs (x)\nrunning 0 tests\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 61 filtered out\n",
        );
        assert!(none.results.is_empty());
        let broken = parse_test_output(
            "   Compiling ex01-solution\nerror[E0308]: mismatched types\nerror: could not compile `ex01-solution` (bin \"ex01-solution\") due to 1 previous error\n",
        );
        assert_eq!(
            broken.build_error.as_deref(),
            Some("error[E0308]: mismatched types")
        );
        let crashed = parse_test_output(
            "running 1 test\nerror: test failed, to rerun pass `--bin ex02-solution`\n\nCaused by:\n  process didn't exit successfully: `...` (signal: 6, SIGABRT: process abort signal)\n",
        );
        assert!(crashed.crashed);
    }

    #[test]
    fn a_backup_left_behind_is_put_back() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("steps/x/src/a.rs");
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, "original").unwrap();
        let backups = Backups::new(root.path());
        {
            let _applied = backups
                .apply("steps/x/src/a.rs", b"original", b"mutant", None)
                .unwrap();
            assert_eq!(fs::read(&file).unwrap(), b"mutant");
            assert!(
                root.path()
                    .join("target/teeth/backup/steps/x/src/a.rs")
                    .exists()
            );
        }
        assert_eq!(fs::read(&file).unwrap(), b"original");
        assert!(backups.restore_leftovers().unwrap().is_empty());
        // A run killed with its mutant in place: the next one restores it.
        let applied = backups
            .apply("steps/x/src/a.rs", b"original", b"mutant", None)
            .unwrap();
        std::mem::forget(applied);
        assert_eq!(fs::read(&file).unwrap(), b"mutant");
        assert_eq!(backups.restore_leftovers().unwrap(), ["steps/x/src/a.rs"]);
        assert_eq!(fs::read(&file).unwrap(), b"original");
        // And a panic with a mutant in place restores it too.
        let caught = std::panic::catch_unwind(|| {
            let _applied = backups
                .apply("steps/x/src/a.rs", b"original", b"mutant", None)
                .unwrap();
            panic!("boom");
        });
        assert!(caught.is_err());
        assert_eq!(fs::read(&file).unwrap(), b"original");
        // With a crate root to rebuild: the file gets its old mtime back,
        // the crate root a new one.
        let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        fs::File::options()
            .append(true)
            .open(&file)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let crate_root = root.path().join("main.rs");
        fs::write(&crate_root, "fn main() {}").unwrap();
        drop(
            backups
                .apply(
                    "steps/x/src/a.rs",
                    b"original",
                    b"mutant",
                    Some(crate_root.clone()),
                )
                .unwrap(),
        );
        assert_eq!(fs::read(&file).unwrap(), b"original");
        assert_eq!(fs::metadata(&file).unwrap().modified().unwrap(), old);
        assert!(fs::metadata(&crate_root).unwrap().modified().unwrap() > old);
    }
}
