//! `cargo xtask book`: keeps the book (`book/`, an mdBook) true to the code.
//!
//! - [`check`]: every `{{#include}}` names a file and an anchor that exist
//!   (mdbook only warns), no Rust listing is pasted, every recorded output
//!   comes from a [`RECORDINGS`] entry, every syscall and flag the steps use
//!   is in the reference chapter, relative links and images resolve, and
//!   `mdbook build` succeeds without a single warning.
//! - [`record`]: runs the step binaries for real, as root, and writes what
//!   they print into `book/src/recorded/`, where the chapters include it.
//! - [`browser_check`]: loads the built HTML in headless Chromium over the
//!   DevTools protocol: no console error, no failed request, every diagram
//!   rendered, search answers; screenshots land in `target/book-check/`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// The mdbook release CI installs and the book is checked with: the
/// current one. Any 0.5 release is accepted (the book has nothing that
/// depends on a patch release).
pub const MDBOOK_VERSION: &str = "0.5.4";

/// Whether `mdbook --version` output (`mdbook v0.5.4`) is a release the
/// book is checked with: the 0.5 series.
fn supported_mdbook(version: &str) -> bool {
    version
        .trim()
        .strip_prefix("mdbook v")
        .is_some_and(|v| v.starts_with("0.5."))
}

/// The reference chapter every syscall and flag of the steps must appear in.
const REFERENCE: &str = "reference.md";

/// `cargo xtask book ...`
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: BookCommand,
}

#[derive(clap::Subcommand)]
enum BookCommand {
    /// Includes and anchors exist, the reference is complete, mdbook builds with no warning.
    Check {
        /// Check this copy of the workspace instead (it needs book/ and steps/).
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
    /// Re-run the steps and rewrite book/src/recorded/ (needs root).
    Record {
        /// Only the recordings whose file name contains one of these.
        #[arg(value_name = "NAME")]
        only: Vec<String>,
    },
    /// Load the built book in headless Chromium: no console errors, diagrams render.
    BrowserCheck {
        /// Check the book of this copy of the workspace instead.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
}

/// Runs `cargo xtask book SUBCOMMAND`.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        BookCommand::Check { root: None } => check(),
        BookCommand::Check { root: Some(root) } => check_at(&root),
        BookCommand::Record { only } if only.is_empty() => record(),
        BookCommand::Record { only } => record_only(&only),
        BookCommand::BrowserCheck { root: None } => browser_check(),
        BookCommand::BrowserCheck { root: Some(root) } => browser_check_at(&root),
    }
}

// ───────────────────────────── check ─────────────────────────────

/// Checks the book of this workspace (see the module docs).
pub fn check() -> Result<()> {
    check_at(&crate::workspace_root())
}

/// Checks the book of the workspace at `root`.
pub fn check_at(root: &Path) -> Result<()> {
    let src = root.join("book/src");
    if !src.join("SUMMARY.md").is_file() {
        bail!(
            "{} has no SUMMARY.md: is {} a workspace with a book?",
            src.display(),
            root.display()
        );
    }
    let pages = markdown_files(&src)?;
    let mut problems = Vec::new();
    for page in &pages {
        let text = fs::read_to_string(page).with_context(|| format!("read {}", page.display()))?;
        let shown = page
            .strip_prefix(root)
            .unwrap_or(page)
            .display()
            .to_string();
        for problem in include_problems(page, &text) {
            problems.push(format!("{shown}: {problem}"));
        }
        for problem in pasted_listings(&text) {
            problems.push(format!("{shown}: {problem}"));
        }
        for problem in link_problems(page, &text) {
            problems.push(format!("{shown}: {problem}"));
        }
    }
    problems.extend(recording_problems(&src, &pages)?);
    problems.extend(diff_problems(root, &pages)?);
    let reference = fs::read_to_string(src.join(REFERENCE))
        .with_context(|| format!("read {}", src.join(REFERENCE).display()))?;
    let used = used_by_steps(&root.join("steps"))?;
    let keys = table_keys(&reference);
    for (name, wheres) in &used.syscalls {
        if !keys.contains(name) {
            problems.push(format!(
                "book/src/{REFERENCE}: the syscall `{name}` is missing (called in {}); \
                 add it to the syscall table",
                wheres.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    for (name, wheres) in &used.flags {
        if !keys.contains(name) {
            problems.push(format!(
                "book/src/{REFERENCE}: the flag `{name}` is missing (used in {}); \
                 add it to the flags table",
                wheres.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    eprintln!(
        "book check: {} pages, {} syscalls and {} flags used by the steps",
        pages.len(),
        used.syscalls.len(),
        used.flags.len()
    );
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("  ✘ {problem}");
        }
        bail!("book check: {} problem(s)", problems.len());
    }
    mdbook_build(&root.join("book"))?;
    eprintln!("book check: ok");
    Ok(())
}

/// Every `.md` file under `dir`, sorted.
fn markdown_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    walk(dir, &mut |p| {
        if p.extension().is_some_and(|e| e == "md") {
            found.push(p.to_path_buf());
        }
    })?;
    found.sort();
    Ok(found)
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, f)?;
        } else {
            f(&path);
        }
    }
    Ok(())
}

/// An `{{#include PATH}}` or `{{#include PATH:ANCHOR}}` found in a page.
#[derive(Debug, PartialEq, Eq)]
struct Include {
    path: String,
    anchor: Option<String>,
    line: usize,
}

/// The includes of a page (`{{#include}}`, `{{#rustdoc_include}}`), in order.
fn includes(text: &str) -> Vec<Include> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("{{#") {
            let after = &rest[start + 3..];
            let Some(end) = after.find("}}") else { break };
            let inner = after[..end].trim();
            rest = &after[end + 2..];
            let Some((kind, arg)) = inner.split_once(char::is_whitespace) else {
                continue;
            };
            if kind != "include" && kind != "rustdoc_include" {
                continue;
            }
            let arg = arg.trim();
            let (path, anchor) = match arg.split_once(':') {
                Some((p, a)) => (p.to_owned(), Some(a.to_owned())),
                None => (arg.to_owned(), None),
            };
            found.push(Include {
                path,
                anchor,
                line: n + 1,
            });
        }
    }
    found
}

/// Missing files and anchors behind a page's includes.
fn include_problems(page: &Path, text: &str) -> Vec<String> {
    let dir = page.parent().unwrap_or(Path::new("."));
    let mut problems = Vec::new();
    for inc in includes(text) {
        let target = dir.join(&inc.path);
        let Ok(source) = fs::read_to_string(&target) else {
            problems.push(format!(
                "line {}: {{{{#include {}}}}}: no such file",
                inc.line, inc.path
            ));
            continue;
        };
        let Some(anchor) = inc.anchor else { continue };
        if anchor.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            problems.push(format!(
                "line {}: {{{{#include {}:{anchor}}}}}: line numbers drift when the code changes; \
                 put `// ANCHOR: name` ... `// ANCHOR_END: name` around the lines and include the name",
                inc.line, inc.path
            ));
            continue;
        }
        match anchored(&source, &anchor) {
            Ok(lines) if lines.iter().any(|l| !l.trim().is_empty()) => {}
            Ok(_) => problems.push(format!(
                "line {}: anchor `{anchor}` in {} is empty",
                inc.line, inc.path
            )),
            Err(why) => problems.push(format!(
                "line {}: {{{{#include {}:{anchor}}}}}: {why}",
                inc.line, inc.path
            )),
        }
    }
    problems
}

/// The name on an `ANCHOR:` or `ANCHOR_END:` line, as mdbook reads it.
fn anchor_name<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let at = line.find(marker)?;
    let name = line[at + marker.len()..].trim_start();
    let end = name
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(name.len());
    Some(&name[..end]).filter(|n| !n.is_empty())
}

/// The lines between `ANCHOR: name` and `ANCHOR_END: name`.
fn anchored<'a>(source: &'a str, anchor: &str) -> Result<Vec<&'a str>, String> {
    let mut inside = None;
    for line in source.lines() {
        if inside.is_none() {
            if anchor_name(line, "ANCHOR:") == Some(anchor) {
                inside = Some(Vec::new());
            }
        } else if anchor_name(line, "ANCHOR_END:") == Some(anchor) {
            return Ok(inside.unwrap_or_default());
        } else if let Some(lines) = inside.as_mut() {
            lines.push(line);
        }
    }
    Err(match inside {
        None => format!("no `ANCHOR: {anchor}` in the file"),
        Some(_) => format!("`ANCHOR: {anchor}` has no `ANCHOR_END: {anchor}`"),
    })
}

/// A fenced Rust block must hold includes only: code is never pasted.
fn pasted_listings(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut fence: Option<(usize, bool)> = None; // (opening line, is rust)
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            fence = match fence {
                None => {
                    let lang = trimmed.trim_start_matches('`').trim();
                    let first = lang.split([',', ' ']).next().unwrap_or("");
                    Some((n + 1, first == "rust" || first == "rs"))
                }
                Some(_) => None,
            };
            continue;
        }
        if let Some((open, true)) = fence {
            let t = line.trim();
            let ok = t.is_empty()
                || (t.starts_with("{{#include") || t.starts_with("{{#rustdoc_include"));
            if !ok {
                problems.push(format!(
                    "line {}: the Rust block opened on line {open} has pasted code (`{}`); \
                     include it from the source with an anchor instead",
                    n + 1,
                    t.chars().take(60).collect::<String>()
                ));
                fence = Some((open, false)); // one report per block
            }
        }
    }
    problems
}

/// Relative links (`[x](page.md#a)`) and images (`src="img/x.svg"`) that point nowhere.
fn link_problems(page: &Path, text: &str) -> Vec<String> {
    let dir = page.parent().unwrap_or(Path::new("."));
    let mut problems = Vec::new();
    let mut in_code = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut targets = Vec::new();
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            targets.push(after[..end].to_owned());
            rest = &after[end..];
        }
        let mut rest = line;
        while let Some(at) = rest.find("src=\"") {
            let after = &rest[at + 5..];
            let end = after.find('"').unwrap_or(after.len());
            targets.push(after[..end].to_owned());
            rest = &after[end..];
        }
        for target in targets {
            let target = target.split_whitespace().next().unwrap_or("");
            if target.is_empty()
                || target.contains("://")
                || target.starts_with('#')
                || target.starts_with("mailto:")
            {
                continue;
            }
            let file = target.split('#').next().unwrap_or(target);
            if !dir.join(file).exists() {
                problems.push(format!("line {}: link to {target}: no such file", n + 1));
            }
        }
    }
    problems
}

/// The names a table of the reference is about: every `` `code` `` in the
/// first cell of a table row (`| `pivot_root` | ... |`), with a trailing
/// `(2)` or `(...)` cut off.
fn table_keys(text: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for line in text.lines() {
        let Some(row) = line.trim_start().strip_prefix('|') else {
            continue;
        };
        let first = row.split('|').next().unwrap_or("");
        for (i, part) in first.split('`').enumerate() {
            if i % 2 == 1 {
                let name = part.split('(').next().unwrap_or(part).trim();
                if !name.is_empty() {
                    keys.insert(name.to_owned());
                }
            }
        }
    }
    keys
}

/// The syscalls and flags the steps use, each with the files that use it.
#[derive(Debug, Default)]
struct Used {
    syscalls: BTreeMap<String, BTreeSet<String>>,
    flags: BTreeMap<String, BTreeSet<String>>,
}

/// nix functions whose syscall has another name.
const NIX_ALIASES: [(&str, &str); 3] = [
    ("set_pdeathsig", "prctl"),
    ("set_no_new_privs", "prctl"),
    ("symlinkat", "symlinkat"),
];

/// Functions reached through nix or libc that are not syscalls.
const NOT_SYSCALLS: [&str; 3] = ["makedev", "syscall", "from_raw"];

/// Prefixes of the kernel constants the reference must list.
const FLAG_PREFIXES: [&str; 8] = [
    "CLONE_",
    "MS_",
    "MNT_",
    "PR_",
    "RTM_",
    "IFLA_",
    "CLOSE_RANGE_",
    "SECBIT_",
];

/// Scans the steps' sources (not their tests) for the syscalls they make:
/// every `call("NAME", ...)` of `workshop::call`, every netlink request
/// `.request("netlink RTM_X", ...)`, every function imported from nix and
/// called, every `libc::name(...)` and `libc::SYS_name`, and the flags
/// (`CLONE_*`, `MS_*`, ...) they pass.
fn used_by_steps(steps: &Path) -> Result<Used> {
    let mut files = Vec::new();
    walk(steps, &mut |p| {
        let in_src = p.components().any(|c| c.as_os_str() == "src");
        if in_src && p.extension().is_some_and(|e| e == "rs") {
            files.push(p.to_path_buf());
        }
    })?;
    files.sort();
    let test_only = test_only_modules(&files);
    let mut used = Used::default();
    for file in &files {
        if test_only.contains(file) {
            continue;
        }
        let shown = file
            .strip_prefix(steps.parent().unwrap_or(steps))
            .unwrap_or(file)
            .display()
            .to_string();
        let code = code_of(&fs::read_to_string(file)?);
        let mut add = |name: &str| {
            if !name.is_empty() && !NOT_SYSCALLS.contains(&name) {
                used.syscalls
                    .entry(name.to_owned())
                    .or_default()
                    .insert(shown.clone());
            }
        };
        for name in string_args(&code, "call(") {
            add(&name);
        }
        for name in string_args(&code, ".request(") {
            add(name.trim_start_matches("netlink "));
        }
        for name in idents_after(&code, "libc::SYS_") {
            add(&name);
        }
        for name in idents_after(&code, "libc::") {
            let called = code.contains(&format!("libc::{name}("));
            if called && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
                add(&name);
            }
        }
        for name in nix_functions_called(&code) {
            let name = NIX_ALIASES
                .iter()
                .find(|(nix, _)| *nix == name)
                .map(|(_, sys)| (*sys).to_owned())
                .unwrap_or(name);
            add(&name);
        }
        for prefix in FLAG_PREFIXES {
            for rest in idents_after(&code, prefix) {
                let flag = format!("{prefix}{rest}");
                if flag
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                {
                    used.flags.entry(flag).or_default().insert(shown.clone());
                }
            }
        }
    }
    // A prefix alone (`MS_` in a comment's `MS_*`) is not a flag.
    used.flags.retain(|f, _| !f.ends_with('_'));
    Ok(used)
}

/// Files declared `#[cfg(test)] mod name;`: unit tests and their fakes.
fn test_only_modules(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    for file in files {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            if pair[0].starts_with("#[cfg(test)]") {
                let decl = pair[1]
                    .trim_start_matches("pub ")
                    .trim_start_matches("pub(crate) ");
                if let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
                    let dir = if file.ends_with("mod.rs")
                        || file.ends_with("lib.rs")
                        || file.ends_with("main.rs")
                    {
                        file.parent().map(Path::to_path_buf)
                    } else {
                        file.with_extension("").into()
                    };
                    if let Some(dir) = dir {
                        found.insert(dir.join(format!("{name}.rs")));
                        found.insert(dir.join(name).join("mod.rs"));
                    }
                }
            }
        }
    }
    found
}

/// The code of a Rust file: comments removed, and everything from the first
/// `#[cfg(test)] mod tests {` on (unit tests sit at the end of a file).
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut pending_cfg_test = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        if t.starts_with("#[cfg(test)]") {
            pending_cfg_test = true;
            continue;
        }
        if pending_cfg_test && t.starts_with("mod ") && t.trim_end().ends_with('{') {
            break;
        }
        pending_cfg_test = false;
        // A trailing comment: cut at ` // ` outside a string, roughly.
        let code = match line.find(" // ") {
            Some(at) if line[..at].matches('"').count() % 2 == 0 => &line[..at],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The string literal that opens the arguments of every `marker` (`call(`).
fn string_args(code: &str, marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(marker) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + marker.len()..].trim_start();
        rest = &rest[at + marker.len()..];
        // `workshop::call(` and `call(` count; `recall(` does not.
        if marker == "call(" && before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(lit) = after.strip_prefix('"') {
            if let Some(end) = lit.find('"') {
                found.push(lit[..end].to_owned());
            }
        }
    }
    found
}

/// The identifiers that directly follow each `prefix`.
fn idents_after(code: &str, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + prefix.len()..];
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') && !prefix.contains("::") {
            continue;
        }
        let end = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        found.push(after[..end].to_owned());
    }
    found
}

/// Functions imported from nix (`use nix::unistd::{fork, pipe2};`) or
/// named in full (`nix::unistd::write(`) that the code calls.
fn nix_functions_called(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("use nix::") {
        let stmt_end = rest[at..].find(';').map(|e| at + e).unwrap_or(rest.len());
        let stmt = &rest[at + 4..stmt_end];
        rest = &rest[stmt_end..];
        let tokens: Vec<&str> = stmt
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .filter(|t| !t.is_empty())
            .collect();
        for token in tokens {
            let name = token.rsplit("::").next().unwrap_or(token);
            if token.ends_with("::")
                || name == "self"
                || !name.starts_with(|c: char| c.is_ascii_lowercase())
            {
                continue;
            }
            if is_called(code, name) {
                found.insert(name.to_owned());
            }
        }
    }
    let mut rest = code;
    while let Some(at) = rest.find("nix::") {
        let after = &rest[at..];
        let end = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(after.len());
        let path = &after[..end];
        rest = &after[end..];
        let name = path.rsplit("::").next().unwrap_or(path);
        if rest.starts_with('(') && name.starts_with(|c: char| c.is_ascii_lowercase()) {
            found.insert(name.to_owned());
        }
    }
    found
}

/// Is `name(` called as a free function (not `.name(` or `x_name(`)?
fn is_called(code: &str, name: &str) -> bool {
    let pat = format!("{name}(");
    code.match_indices(&pat).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == ':')
            || code[..at].ends_with("::") && !code[..at].ends_with("Self::")
    })
}

/// Recorded files that no [`RECORDINGS`] entry makes, entries whose file is
/// missing, and recordings that no page includes.
fn recording_problems(src: &Path, pages: &[PathBuf]) -> Result<Vec<String>> {
    let dir = src.join("recorded");
    let mut problems = Vec::new();
    let on_disk: BTreeSet<String> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => BTreeSet::new(),
    };
    let mut included = BTreeSet::new();
    for page in pages {
        for inc in includes(&fs::read_to_string(page)?) {
            if let Some(name) = inc.path.strip_prefix("recorded/") {
                included.insert(name.to_owned());
            }
        }
    }
    for file in &on_disk {
        if !RECORDINGS.iter().any(|r| r.file == file) {
            problems.push(format!(
                "book/src/recorded/{file}: no recording in xtask/src/book.rs makes it; \
                 recorded outputs come from real runs (`cargo xtask book record`), not from an editor"
            ));
        }
    }
    for rec in RECORDINGS {
        if !on_disk.contains(rec.file) {
            problems.push(format!(
                "book/src/recorded/{} is missing: run `sudo -E cargo xtask book record {}`",
                rec.file, rec.file
            ));
        } else if !included.contains(rec.file) {
            problems.push(format!(
                "book/src/recorded/{} is included by no page",
                rec.file
            ));
        }
    }
    Ok(problems)
}

/// The mdbook to use: `$MDBOOK`, then `mdbook` on `$PATH`, then `~/.cargo/bin/mdbook`.
fn mdbook() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("MDBOOK").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("mdbook"))
                .find(|p| p.is_file())
        })
        .unwrap_or_default();
    let in_cargo = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/mdbook"));
    on_path
        .or(in_cargo.filter(|p| p.is_file()))
        .with_context(|| {
            format!(
                "mdbook is not installed: cargo install --locked mdbook --version {MDBOOK_VERSION} \
                 --no-default-features --features search"
            )
        })
}

/// `mdbook build`: must succeed and print no warning or error.
fn mdbook_build(book: &Path) -> Result<()> {
    let mdbook = mdbook()?;
    let version = Command::new(&mdbook).arg("--version").output()?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    if !supported_mdbook(&version) {
        bail!(
            "{version} found, the book is checked with mdbook 0.5 (the current release): \
             cargo install --locked mdbook --version {MDBOOK_VERSION} --no-default-features --features search"
        );
    }
    let out = Command::new(&mdbook)
        .arg("build")
        .arg(book)
        .output()
        .with_context(|| format!("run {}", mdbook.display()))?;
    let log = String::from_utf8_lossy(&out.stderr);
    let noisy: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("[WARN")
                || l.contains("[ERROR")
                || l.contains(" WARN ")
                || l.contains(" ERROR ")
        })
        .collect();
    if !out.status.success() || !noisy.is_empty() {
        eprint!("{log}");
        bail!(
            "mdbook build {}: {} ({} warning/error lines)",
            book.display(),
            out.status,
            noisy.len()
        );
    }
    eprintln!(
        "book check: {version}: built {} with no warning",
        book.join("book").display()
    );
    Ok(())
}

/// The change a step makes to the previous step's orchestration, shown in
/// its chapter as a diff: (file under book/src/generated/, old, new).
pub const DIFFS: &[(&str, &str, &str)] = &[
    (
        "step02-step03-container.diff",
        "steps/step02/src/container.rs",
        "steps/step03/src/container.rs",
    ),
    (
        "step03-step04-container.diff",
        "steps/step03/src/container.rs",
        "steps/step04/src/container.rs",
    ),
    (
        "step04-step05-container.diff",
        "steps/step04/src/container.rs",
        "steps/step05/src/container.rs",
    ),
    (
        "step05-step06-container.diff",
        "steps/step05/src/container.rs",
        "steps/step06/src/container.rs",
    ),
];

/// `diff -u old new`, with the paths relative to the workspace.
fn diff_text(root: &Path, old: &str, new: &str) -> Result<String> {
    let out = Command::new("diff")
        .args(["-u", "--label", old, "--label", new])
        .arg(root.join(old))
        .arg(root.join(new))
        .output()
        .context("run diff (diffutils)")?;
    // diff exits 0 (same), 1 (different) or 2 (trouble).
    if out.status.code() == Some(2) || out.status.code().is_none() {
        bail!(
            "diff {old} {new}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Rewrites book/src/generated/*.diff from the sources.
fn write_diffs(root: &Path) -> Result<()> {
    let dir = root.join("book/src/generated");
    fs::create_dir_all(&dir)?;
    for (file, old, new) in DIFFS {
        fs::write(dir.join(file), diff_text(root, old, new)?)?;
        eprintln!("book record: wrote book/src/generated/{file}");
    }
    Ok(())
}

/// Diffs that are missing, stale (the sources changed since), or included by no page.
fn diff_problems(root: &Path, pages: &[PathBuf]) -> Result<Vec<String>> {
    let mut included = BTreeSet::new();
    for page in pages {
        for inc in includes(&fs::read_to_string(page)?) {
            if let Some(name) = inc.path.strip_prefix("generated/") {
                included.insert(name.to_owned());
            }
        }
    }
    let mut problems = Vec::new();
    for (file, old, new) in DIFFS {
        let path = root.join("book/src/generated").join(file);
        let fresh = diff_text(root, old, new)?;
        match fs::read_to_string(&path) {
            Ok(text) if text == fresh => {}
            Ok(_) => problems.push(format!(
                "book/src/generated/{file} is stale: {old} or {new} changed; run `cargo xtask book record` (it rewrites the diffs first)"
            )),
            Err(_) => problems.push(format!(
                "book/src/generated/{file} is missing; run `cargo xtask book record`"
            )),
        }
        if !included.contains(*file) {
            problems.push(format!("book/src/generated/{file} is included by no page"));
        }
    }
    Ok(problems)
}

// ───────────────────────────── record ─────────────────────────────

/// How a recording runs its step.
#[derive(Clone, Copy)]
enum How {
    /// As root; the file shows the command line and everything it printed
    /// (stdout and stderr interleaved as they came).
    Root,
    /// As the unprivileged user 65534 (`setpriv`), to show the not-root error.
    Nobody,
    /// Starts the container with `args` (something that waits, like
    /// `sleep 5`), then runs each shell command on the host with `$PID` set
    /// to the container's process as the host sees it: the step's child
    /// (PID 1 inside) from step02 on, the step itself in step01.
    Experiment(&'static [&'static str]),
}

/// One recorded run.
pub struct Recording {
    /// File name under `book/src/recorded/`.
    pub file: &'static str,
    /// The command line as the reader types it, shown after `$ `.
    shown: &'static str,
    /// The step binary (a package of the workspace).
    bin: &'static str,
    /// Its arguments.
    args: &'static [&'static str],
    how: How,
    /// Show the exit status (`$ echo $?`) after the output.
    status: bool,
    /// Run with the rootfs (WORKSHOP_ROOTFS) set.
    rootfs: bool,
}

const fn rec(
    file: &'static str,
    shown: &'static str,
    bin: &'static str,
    args: &'static [&'static str],
) -> Recording {
    Recording {
        file,
        shown,
        bin,
        args,
        how: How::Root,
        status: false,
        rootfs: true,
    }
}

impl Recording {
    const fn with_status(mut self) -> Self {
        self.status = true;
        self
    }
    const fn run_as_nobody(mut self) -> Self {
        self.how = How::Nobody;
        self
    }
    const fn probing(mut self, commands: &'static [&'static str]) -> Self {
        self.how = How::Experiment(commands);
        self
    }
    const fn no_rootfs(mut self) -> Self {
        self.rootfs = false;
        self
    }
}

const LONG_HOSTNAME: &str = "a-hostname-that-is-longer-than-the-sixty-four-bytes-the-kernel-allows";

/// Every recorded output of the book, in chapter order.
pub const RECORDINGS: &[Recording] = &[
    rec("doctor.txt", "cargo run -q -p doctor", "doctor", &[]).no_rootfs().with_status(),
    rec("intro-step06.txt", "cargo run -q -p step06 -- --memory 64m --pids 32 --hostname web-1 sh -c 'hostname; ps; ip -o -4 addr'", "step06", &["--memory", "64m", "--pids", "32", "--hostname", "web-1", "sh", "-c", "hostname; ps; ip -o -4 addr"]),
    // chapter 1
    rec("step01-hostname.txt", "cargo run -q -p step01 -- -x --hostname box-1 hostname", "step01", &["-x", "--hostname", "box-1", "hostname"]),
    rec("step01-experiment.txt", "cargo run -q -p step01 -- --hostname box-1 sleep 5", "step01", &["--hostname", "box-1", "sleep", "5"]).probing(&[
        "hostname",
        "readlink /proc/$PID/ns/uts /proc/self/ns/uts",
        "nsenter --target $PID --uts hostname",
        "lsns --type uts --output NS,TYPE,NPROCS,PID,COMMAND",
    ]),
    // chapter 2
    rec("step02-ps.txt", "cargo run -q -p step02 -- -x ps", "step02", &["-x", "ps"]),
    rec("step02-status.txt", "cargo run -q -p step02 -- sh -c 'sleep 1 & exit 3'", "step02", &["sh", "-c", "sleep 1 & exit 3"]).with_status(),
    rec("step02-experiment.txt", "cargo run -q -p step02 -- sleep 5", "step02", &["sleep", "5"]).probing(&[
        "grep -E '^(Name|NSpid)' /proc/$PID/status",
        "ps -o pid,ppid,comm --ppid $PID",
        "readlink /proc/$PID/ns/pid /proc/self/ns/pid",
        "nsenter --target $PID --pid --mount ps -o pid,comm",
    ]),
    // chapter 3
    rec("step03-ls.txt", "cargo run -q -p step03 -- -x ls /", "step03", &["-x", "ls", "/"]),
    rec("step03-mounts.txt", "cargo run -q -p step03 -- cat /proc/self/mountinfo", "step03", &["cat", "/proc/self/mountinfo"]),
    rec("step03-experiment.txt", "cargo run -q -p step03 -- sleep 5", "step03", &["sleep", "5"]).probing(&[
        "ls /proc/$PID/root",
        "findmnt --task $PID --output TARGET,SOURCE,FSTYPE,PROPAGATION",
        "findmnt --output TARGET,SOURCE,FSTYPE,PROPAGATION /proc",
    ]),
    // errors, for the troubleshooting chapter
    rec("error-not-root.txt", "./target/debug/step01 hostname        # as an ordinary user, without sudo", "step01", &["hostname"]).run_as_nobody().with_status().no_rootfs(),
    rec("error-no-rootfs.txt", "cargo run -q -p step03 -- --rootfs /srv/no-such-rootfs true", "step03", &["--rootfs", "/srv/no-such-rootfs", "true"]).with_status().no_rootfs(),
    rec("error-not-found.txt", "cargo run -q -p step03 -- no-such-command", "step03", &["no-such-command"]).with_status(),
    rec("error-long-hostname.txt", "cargo run -q -p step01 -- --hostname a-hostname-that-is-longer-than-the-sixty-four-bytes-the-kernel-allows true", "step01", &["--hostname", LONG_HOSTNAME, "true"]).with_status(),
    rec("error-bad-flag.txt", "cargo run -q -p step02 -- --hostnme box true", "step02", &["--hostnme", "box", "true"]).with_status(),
    rec("error-pivot-busy.txt", "cargo run -q -p step03 -- --rootfs / true", "step03", &["--rootfs", "/", "true"]).with_status().no_rootfs(),
    rec("error-rootfs-empty.txt", "cargo run -q -p step03 -- --rootfs /media true", "step03", &["--rootfs", "/media", "true"]).with_status().no_rootfs(),
    rec("error-bad-memory.txt", "cargo run -q -p step05 -- --memory 12XB true", "step05", &["--memory", "12XB", "true"]).with_status(),
    rec("error-bad-cap.txt", "cargo run -q -p step06 -- --cap-add bogus true", "step06", &["--cap-add", "bogus", "true"]).with_status(),
    // chapter 4
    rec("step04-ip.txt", "cargo run -q -p step04 -- -x ip addr", "step04", &["-x", "ip", "addr"]),
    rec("step04-ping.txt", "cargo run -q -p step04 -- ping -c 1 host", "step04", &["ping", "-c", "1", "host"]),
    rec("step04-none.txt", "cargo run -q -p step04 -- --network none ip addr", "step04", &["--network", "none", "ip", "addr"]),
    rec("step04-experiment.txt", "cargo run -q -p step04 -- sleep 5", "step04", &["sleep", "5"]).probing(&[
        "readlink /proc/$PID/ns/net /proc/self/ns/net",
        "ip -brief address show type veth",
        "nsenter --target $PID --net ip -brief address",
        "nsenter --target $PID --net ip route",
    ]),
    // chapter 5
    rec("step05-limits.txt", "cargo run -q -p step05 -- -x --memory 64m --cpus 0.5 --pids 32 true", "step05", &["-x", "--memory", "64m", "--cpus", "0.5", "--pids", "32", "true"]),
    rec("step05-oom.txt", "cargo run -q -p step05 -- --memory 16m sh -c 'x=$(head -c 64m /dev/zero | tr \"\\0\" a); echo ${#x}'", "step05", &["--memory", "16m", "sh", "-c", "x=$(head -c 64m /dev/zero | tr \"\\0\" a); echo ${#x}"]).with_status(),
    rec("step05-pids.txt", "cargo run -q -p step05 -- --pids 8 sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 2 & done; wait'", "step05", &["--pids", "8", "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 2 & done; wait"]).with_status(),
    rec("step05-experiment.txt", "cargo run -q -p step05 -- --memory 64m --cpus 0.5 --pids 32 sleep 5", "step05", &["--memory", "64m", "--cpus", "0.5", "--pids", "32", "sleep", "5"]).probing(&[
        "cat /proc/$PID/cgroup",
        "find /sys/fs/cgroup -path \"*/contain-rs-workshop/ws-$RUNTIME/*\" \\( -name memory.max -o -name memory.limit_in_bytes -o -name cpu.max -o -name cpu.cfs_quota_us -o -name 'pids.*' \\) -exec grep -H . {} +",
    ]),
    // chapter 6
    rec("step06-caps.txt", "cargo run -q -p step06 -- -x --network none grep -E 'Cap|NoNewPrivs' /proc/self/status", "step06", &["-x", "--network", "none", "grep", "-E", "Cap|NoNewPrivs", "/proc/self/status"]),
    rec("step06-hostname.txt", "cargo run -q -p step06 -- hostname x", "step06", &["hostname", "x"]).with_status(),
    rec("step06-cap-add.txt", "cargo run -q -p step06 -- --cap-add SYS_ADMIN sh -c 'hostname x && hostname'", "step06", &["--cap-add", "SYS_ADMIN", "sh", "-c", "hostname x && hostname"]),
    rec("step06-defaults.txt", "cargo run -q -p step06 -- -x --network none -e GREETING=hi sh -c 'env; cat /proc/self/cgroup | head -3; wc -c < /proc/keys'", "step06", &["-x", "--network", "none", "-e", "GREETING=hi", "sh", "-c", "env; cat /proc/self/cgroup | head -3; wc -c < /proc/keys"]),
    rec("step06-devices.txt", "cargo run -q -p step06 -- --cap-add SYS_ADMIN sh -c 'mkdir /tmp/d && mount -t tmpfs -o dev none /tmp/d && mknod /tmp/d/kmsg c 1 11 && head -c 64 /tmp/d/kmsg'", "step06", &["--cap-add", "SYS_ADMIN", "sh", "-c", "mkdir /tmp/d && mount -t tmpfs -o dev none /tmp/d && mknod /tmp/d/kmsg c 1 11 && head -c 64 /tmp/d/kmsg"]).with_status(),
    rec("step06-experiment.txt", "cargo run -q -p step06 -- sleep 5", "step06", &["sleep", "5"]).probing(&[
        "grep -E 'Cap|NoNewPrivs' /proc/$PID/status",
        "grep -E 'Cap|NoNewPrivs' /proc/$(pgrep -P $PID)/status",
        "capsh --decode=00000000a80425fb",
    ]),
];

/// Re-runs every recording (see [`RECORDINGS`]) and rewrites its file.
pub fn record() -> Result<()> {
    record_only(&[])
}

fn record_only(only: &[String]) -> Result<()> {
    write_diffs(&crate::workspace_root())?;
    if !nix::unistd::geteuid().is_root() {
        bail!("recording runs the steps, which needs root: sudo -E cargo xtask book record");
    }
    let root = crate::workspace_root();
    let chosen: Vec<&Recording> = RECORDINGS
        .iter()
        .filter(|r| only.is_empty() || only.iter().any(|o| r.file.contains(o.as_str())))
        .collect();
    if chosen.is_empty() {
        bail!("no recording matches {only:?}");
    }
    let mut packages: Vec<&str> = chosen.iter().map(|r| r.bin).collect();
    packages.sort();
    packages.dedup();
    let mut build = Command::new("cargo");
    build.arg("build").current_dir(&root);
    for p in &packages {
        build.args(["-p", p]);
    }
    if !build.status()?.success() {
        bail!("cargo build {packages:?} failed");
    }
    let rootfs = rootfs_for_recording()?;
    eprintln!("book record: rootfs {}", rootfs.display());
    let out_dir = root.join("book/src/recorded");
    fs::create_dir_all(&out_dir)?;
    let bins = root.join("target/debug");
    let mut failed = Vec::new();
    for rec in chosen {
        let text = match record_one(rec, &bins.join(rec.bin), &rootfs) {
            Ok(text) => text,
            Err(err) => {
                eprintln!("book record: ✘ {}: {err:#}", rec.file);
                failed.push(rec.file);
                continue;
            }
        };
        fs::write(out_dir.join(rec.file), &text)?;
        eprintln!(
            "book record: wrote book/src/recorded/{} ({} lines)",
            rec.file,
            text.lines().count()
        );
    }
    if !failed.is_empty() {
        bail!(
            "book record: {} recording(s) failed: {}",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// The Alpine rootfs where the fetcher put it, or else the busybox test rootfs.
fn rootfs_for_recording() -> Result<PathBuf> {
    let alpine = PathBuf::from("/var/lib/contain-rs-workshop/rootfs");
    if alpine.join("etc/alpine-release").is_file() {
        return Ok(alpine);
    }
    testkit::rootfs::busybox_rootfs()
}

const LIMIT: Duration = Duration::from_secs(30);

fn record_one(rec: &Recording, bin: &Path, rootfs: &Path) -> Result<String> {
    let mut text = format!("$ {}\n", rec.shown);
    let code = match rec.how {
        How::Root | How::Nobody => {
            let mut _guard = None;
            let mut cmd = match rec.how {
                How::Nobody => {
                    // A copy that user 65534 can run, at ./target/debug/ of
                    // a scratch directory, so that the message shows the
                    // path a learner would type.
                    let dir = nobody_copy(bin)?;
                    let mut c = Command::new("setpriv");
                    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                        .arg(Path::new("./target/debug").join(rec.bin))
                        .current_dir(dir.path());
                    _guard = Some(dir);
                    c
                }
                _ => Command::new(bin),
            };
            cmd.args(rec.args);
            let (output, code) = run_merged(cmd, rec.rootfs.then_some(rootfs))?;
            text.push_str(&output);
            code
        }
        How::Experiment(probes) => {
            let (output, code) = experiment(rec, bin, rootfs, probes)?;
            text.push_str(&output);
            code
        }
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    if rec.status {
        text.push_str(&format!("$ echo $?\n{code}\n"));
    } else if code != 0 {
        bail!("{} exited {code}:\n{text}", rec.shown);
    }
    Ok(text)
}

/// `DIR/target/debug/BIN`, readable and executable by everyone.
fn nobody_copy(bin: &Path) -> Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new().prefix("book-record-").tempdir()?;
    let debug = dir.path().join("target/debug");
    fs::create_dir_all(&debug)?;
    for d in [dir.path(), &dir.path().join("target"), &debug] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755))?;
    }
    let copy = debug.join(bin.file_name().unwrap_or_default());
    fs::copy(bin, &copy)?;
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755))?;
    Ok(dir)
}

/// Runs `cmd` with stdout and stderr into one file, so they interleave in
/// the order they were written, and returns that text and the exit code.
fn run_merged(mut cmd: Command, rootfs: Option<&Path>) -> Result<(String, i32)> {
    let log = tempfile::tempfile()?;
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .env_remove("WORKSHOP_ROOTFS");
    if let Some(rootfs) = rootfs {
        cmd.env("WORKSHOP_ROOTFS", rootfs);
    }
    let mut child = cmd.spawn().context("start")?;
    let status = testkit::run::wait_limited(&mut child, LIMIT).map_err(anyhow::Error::msg)?;
    Ok((read_all(log)?, testkit::run::code(status)))
}

fn read_all(mut file: fs::File) -> Result<String> {
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Starts the container, waits until its command runs, then runs the
/// probes on the host, one `$ command` and its output at a time.
fn experiment(
    rec: &Recording,
    bin: &Path,
    rootfs: &Path,
    probes: &[&str],
) -> Result<(String, i32)> {
    let log = tempfile::tempfile()?;
    let mut cmd = Command::new(bin);
    cmd.args(rec.args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .env("WORKSHOP_ROOTFS", rootfs);
    let mut child = cmd.spawn().context("start the container")?;
    let result = (|| -> Result<String> {
        let runtime = child.id();
        // step01 becomes the command itself; later steps have a PID 1 child
        // whose own child is the command.
        let (pid, command) = if rec.bin == "step01" {
            (runtime, runtime)
        } else {
            let init = wait_for(|| testkit::host::children_of(runtime).first().copied())?;
            let cmd = wait_for(|| testkit::host::children_of(init).first().copied())?;
            (init, cmd)
        };
        // Until exec, the command's name is still the step's.
        wait_for(|| {
            let comm = fs::read_to_string(format!("/proc/{command}/comm")).ok()?;
            (comm.trim() == rec.args[rec.args.len() - 2]).then_some(())
        })?;
        let mut out = format!(
            "\n# in a second shell on the host:\n$ PID=$(pgrep -n {})       # the container's {}; here {pid}\n",
            rec.bin,
            if rec.bin == "step01" {
                "process"
            } else {
                "PID 1, as the host numbers it"
            }
        );
        if probes.iter().any(|p| p.contains("$RUNTIME")) {
            out.push_str(&format!(
                "$ RUNTIME=$(pgrep -o {})   # the runtime itself, PID 1's parent; here {runtime}\n",
                rec.bin
            ));
        }
        for probe in probes {
            let mut sh = Command::new("sh");
            sh.args(["-c", probe])
                .env("PID", pid.to_string())
                .env("RUNTIME", runtime.to_string());
            let (text, code) = run_merged(sh, None)?;
            out.push_str(&format!("$ {probe}\n{text}"));
            if code != 0 {
                bail!("the probe `{probe}` exited {code}: {text}");
            }
        }
        Ok(out)
    })();
    let status = testkit::run::wait_limited(&mut child, LIMIT).map_err(anyhow::Error::msg);
    let probes = result?;
    let code = testkit::run::code(status?);
    Ok((format!("{}{probes}", read_all(log)?), code))
}

fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("the container did not start within 5 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ─────────────────────────── browser check ───────────────────────────

/// A page to load and what must hold on it.
struct PageCheck {
    /// Path below the built book, with an optional query.
    path: &'static str,
    /// How many SVG diagrams must have rendered, at least.
    diagrams: usize,
    /// A JavaScript expression that must be true once the page has loaded.
    holds: &'static str,
    /// Screenshot file under target/book-check/.
    screenshot: &'static str,
}

const PAGES: &[PageCheck] = &[
    PageCheck {
        path: "index.html",
        diagrams: 1,
        holds: "document.querySelectorAll('#sidebar a, .sidebar a, mdbook-sidebar-scrollbox a').length > 10",
        screenshot: "introduction.png",
    },
    PageCheck {
        path: "how-steps-work.html",
        diagrams: 1,
        holds: "document.body.innerText.includes('close_range')",
        screenshot: "how-steps-work.png",
    },
    PageCheck {
        path: "ch03-mount.html",
        diagrams: 1,
        holds: "document.querySelectorAll('pre code').length > 5 && document.body.innerText.includes('pivot_root')",
        screenshot: "ch03-mount.png",
    },
    PageCheck {
        path: "ch04-net.html",
        diagrams: 1,
        holds: "document.body.innerText.includes('RTM_NEWLINK')",
        screenshot: "ch04-net.png",
    },
    PageCheck {
        path: "ch05-cgroups.html",
        diagrams: 1,
        holds: "document.body.innerText.includes('memory.max')",
        screenshot: "ch05-cgroups.png",
    },
    PageCheck {
        path: "reference.html",
        diagrams: 0,
        holds: "document.querySelectorAll('table tr').length > 40",
        screenshot: "reference.png",
    },
    PageCheck {
        path: "index.html?search=pivot_root",
        diagrams: 0,
        holds: "document.querySelectorAll('#mdbook-searchresults li').length > 0",
        screenshot: "search.png",
    },
];

/// Builds the book, serves it on loopback and loads [`PAGES`] in headless
/// Chromium over the DevTools protocol (`--remote-debugging-pipe`).
pub fn browser_check() -> Result<()> {
    browser_check_at(&crate::workspace_root())
}

/// [`browser_check`] for the workspace at `root`; the screenshots still go
/// to this workspace's target/book-check/.
pub fn browser_check_at(root: &Path) -> Result<()> {
    mdbook_build(&root.join("book"))?;
    let site = root.join("book/book");
    let artefacts = crate::workspace_root().join("target/book-check");
    fs::create_dir_all(&artefacts)?;
    let server = serve(site)?;
    let mut browser = Browser::launch(&artefacts)?;
    let mut failures = Vec::new();
    for page in PAGES {
        let url = format!("http://{server}/{}", page.path);
        let shot = artefacts.join(page.screenshot);
        let mut checked = browser.check_page(&url, page, &shot);
        // Chromium aborts every request with ERR_NETWORK_CHANGED when an
        // interface comes or goes on the host (a container's veth, say):
        // that says nothing of the book, so such a page is loaded once more.
        if checked
            .as_ref()
            .is_err_and(|e| format!("{e:#}").contains("ERR_NETWORK_CHANGED"))
        {
            eprintln!(
                "  … {}: the host's network changed during the load; loading it again",
                page.path
            );
            checked = browser.check_page(&url, page, &shot);
        }
        match checked {
            Ok(summary) => eprintln!("  ✔ {}: {summary}", page.path),
            Err(err) => {
                eprintln!("  ✘ {}: {err:#}", page.path);
                failures.push(page.path);
            }
        }
    }
    browser.close();
    eprintln!("browser check: screenshots in {}", artefacts.display());
    if !failures.is_empty() {
        bail!(
            "browser check: {} page(s) failed: {}",
            failures.len(),
            failures.join(", ")
        );
    }
    Ok(())
}

/// A tiny static file server on 127.0.0.1 for the built book; returns its address.
fn serve(site: PathBuf) -> Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let site = site.clone();
            std::thread::spawn(move || {
                let _ = answer(stream, &site);
            });
        }
    });
    Ok(addr)
}

fn answer(mut stream: TcpStream, site: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let rel = Path::new(path.trim_start_matches('/'));
    let safe = rel.components().all(|c| matches!(c, Component::Normal(_)));
    let mut file = site.join(rel);
    if file.is_dir() {
        file = file.join("index.html");
    }
    let (status, body, kind) = match fs::read(&file) {
        Ok(body) if safe => ("200 OK", body, content_type(&file)),
        _ => ("404 Not Found", b"not found".to_vec(), "text/plain"),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css",
        "js" => "text/javascript",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// Headless Chromium driven over `--remote-debugging-pipe`: commands go in
/// on its fd 3, answers and events come out of its fd 4, each a JSON
/// message ended by a NUL byte.
struct Browser {
    child: Child,
    to_browser: fs::File,
    from_browser: mpsc::Receiver<Value>,
    next_id: u64,
    /// Events that arrived while waiting for an answer.
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn launch(artefacts: &Path) -> Result<Browser> {
        let chromium = ["chromium", "chromium-browser", "google-chrome"]
            .into_iter()
            .find(|name| {
                Command::new(name)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .context("no chromium on $PATH: apt-get install chromium")?;
        let profile = tempfile::Builder::new()
            .prefix("book-check-profile-")
            .tempdir()?;
        // Pipes well above 4, so that dup2 onto 3 and 4 always copies.
        let (cmd_read, cmd_write) = high_pipe()?;
        let (ev_read, ev_write) = high_pipe()?;
        let (cmd_fd, ev_fd) = (cmd_read.as_raw_fd(), ev_write.as_raw_fd());
        let log = fs::File::create(artefacts.join("chromium.log"))?;
        let mut command = Command::new(chromium);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-pipe",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // SAFETY: dup2 is async-signal-safe and touches only the child's fd
        // table; the source descriptors are open (we hold them) and not 3 or 4.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(cmd_fd, 3) < 0 || libc::dup2(ev_fd, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().context("start chromium")?;
        drop(cmd_read);
        drop(ev_write);
        let (tx, rx) = mpsc::channel();
        let mut reader = BufReader::new(fs::File::from(ev_read));
        std::thread::spawn(move || {
            loop {
                let mut message = Vec::new();
                match reader.read_until(0, &mut message) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        message.pop();
                        if let Ok(v) = serde_json::from_slice::<Value>(&message) {
                            if tx.send(v).is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        });
        Ok(Browser {
            child,
            to_browser: fs::File::from(cmd_write),
            from_browser: rx,
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        })
    }

    /// Sends a command (to a page's session if given) and waits for its answer.
    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message)?;
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .context("write to chromium")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .from_browser
                .recv_timeout(left)
                .with_context(|| format!("no answer from chromium to {method}"))?;
            if v["id"].as_u64() == Some(id) {
                if let Some(err) = v.get("error") {
                    bail!("{method}: {err}");
                }
                return Ok(v["result"].clone());
            }
            self.events.push(v);
        }
    }

    /// Waits until an event `method` of `session` arrives.
    fn wait_event(&mut self, session: &str, method: &str, limit: Duration) -> Result<()> {
        let seen = |v: &Value| v["method"] == method && v["sessionId"] == session;
        if self.events.iter().any(seen) {
            return Ok(());
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .from_browser
                .recv_timeout(left)
                .with_context(|| format!("no {method} within {} s", limit.as_secs()))?;
            let found = seen(&v);
            self.events.push(v);
            if found {
                return Ok(());
            }
        }
    }

    /// Collects whatever arrives during `d`.
    fn settle(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while let Ok(v) = self
            .from_browser
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.events.push(v);
        }
    }

    fn eval(&mut self, session: &str, expression: &str) -> Result<Value> {
        let r = self.send(
            Some(session),
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        )?;
        if let Some(ex) = r.get("exceptionDetails") {
            bail!("evaluating `{expression}`: {ex}");
        }
        Ok(r["result"]["value"].clone())
    }

    fn check_page(&mut self, url: &str, page: &PageCheck, screenshot: &Path) -> Result<String> {
        let target = self.send(None, "Target.createTarget", json!({"url": "about:blank"}))?;
        let target_id = target["targetId"]
            .as_str()
            .context("no targetId")?
            .to_owned();
        let attached = self.send(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        )?;
        let session = attached["sessionId"]
            .as_str()
            .context("no sessionId")?
            .to_owned();
        let s = Some(session.as_str());
        self.events.clear();
        for domain in [
            "Page.enable",
            "Runtime.enable",
            "Log.enable",
            "Network.enable",
        ] {
            self.send(s, domain, json!({}))?;
        }
        self.send(
            s,
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        )?;
        self.send(s, "Page.navigate", json!({"url": url}))?;
        self.wait_event(&session, "Page.loadEventFired", Duration::from_secs(30))?;
        // Search runs after load; diagrams decode asynchronously.
        self.settle(Duration::from_millis(1500));

        let mut problems = Vec::new();
        for v in self
            .events
            .iter()
            .filter(|v| v["sessionId"] == session.as_str())
        {
            let p = &v["params"];
            match v["method"].as_str().unwrap_or("") {
                "Runtime.exceptionThrown" => problems.push(format!(
                    "uncaught exception: {}",
                    p["exceptionDetails"]["exception"]["description"]
                        .as_str()
                        .or(p["exceptionDetails"]["text"].as_str())
                        .unwrap_or("?")
                )),
                "Runtime.consoleAPICalled"
                    if matches!(p["type"].as_str(), Some("error" | "assert")) =>
                {
                    problems.push(format!("console.{}: {}", p["type"], p["args"]))
                }
                "Log.entryAdded" if p["entry"]["level"] == "error" => problems.push(format!(
                    "console error: {} {}",
                    p["entry"]["text"].as_str().unwrap_or(""),
                    p["entry"]["url"].as_str().unwrap_or("")
                )),
                "Network.loadingFailed" => problems.push(format!(
                    "request failed: {} ({})",
                    p["requestId"],
                    p["errorText"].as_str().unwrap_or("")
                )),
                "Network.responseReceived"
                    if p["response"]["status"].as_u64().unwrap_or(200) >= 400 =>
                {
                    problems.push(format!(
                        "{} {}",
                        p["response"]["status"],
                        p["response"]["url"].as_str().unwrap_or("")
                    ))
                }
                _ => {}
            }
        }
        let images = self.eval(
            &session,
            "Array.from(document.images).filter(i => i.src.endsWith('.svg')).map(i => \
             ({src: i.src, ok: i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0}))",
        )?;
        let images = images.as_array().cloned().unwrap_or_default();
        for bad in images.iter().filter(|i| i["ok"] != true) {
            problems.push(format!("diagram did not render: {}", bad["src"]));
        }
        if images.len() < page.diagrams {
            problems.push(format!(
                "{} SVG diagram(s) on the page, expected at least {}",
                images.len(),
                page.diagrams
            ));
        }
        if self.eval(&session, page.holds)? != true {
            problems.push(format!("does not hold: {}", page.holds));
        }
        let shot = self.send(s, "Page.captureScreenshot", json!({"format": "png"}))?;
        let png = base64_decode(shot["data"].as_str().context("no screenshot data")?)?;
        fs::write(screenshot, png)?;
        let _ = self.send(None, "Target.closeTarget", json!({"targetId": target_id}));
        if !problems.is_empty() {
            bail!("{}", problems.join("; "));
        }
        Ok(format!(
            "loaded, no console errors, {} diagram(s) rendered, screenshot {}",
            images.len(),
            screenshot.file_name().unwrap_or_default().to_string_lossy()
        ))
    }

    fn close(mut self) {
        let _ = self.send(None, "Browser.close", json!({}));
        if testkit::run::wait_limited(&mut self.child, Duration::from_secs(10)).is_err() {
            let _ = self.child.kill();
        }
    }
}

/// A close-on-exec pipe whose two ends are numbered 10 or higher.
fn high_pipe() -> Result<(OwnedFd, OwnedFd)> {
    use nix::fcntl::{FcntlArg, fcntl};
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let high = |fd: OwnedFd| -> Result<OwnedFd> {
        let n = fcntl(&fd, FcntlArg::F_DUPFD_CLOEXEC(10))?;
        // SAFETY: fcntl just returned this new descriptor; we own it alone.
        Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(n) })
    };
    Ok((high(r)?, high(w)?))
}

/// Standard base64 (the screenshot DevTools sends).
fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("not base64: {c:?}"),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_are_parsed_with_and_without_anchor() {
        let text = "a\n{{#include ../../steps/step01/src/uts.rs:enter}}\nb {{#include recorded/x.txt}} c\n";
        assert_eq!(
            includes(text),
            vec![
                Include {
                    path: "../../steps/step01/src/uts.rs".into(),
                    anchor: Some("enter".into()),
                    line: 2
                },
                Include {
                    path: "recorded/x.txt".into(),
                    anchor: None,
                    line: 3
                },
            ]
        );
    }

    #[test]
    fn the_current_mdbook_series_is_accepted() {
        assert!(supported_mdbook("mdbook v0.5.4\n"));
        assert!(supported_mdbook(&format!("mdbook v{MDBOOK_VERSION}")));
        assert!(supported_mdbook("mdbook v0.5.0"));
        assert!(!supported_mdbook("mdbook v0.4.52"));
        assert!(!supported_mdbook("mdbook v0.6.0"));
    }

    #[test]
    fn anchors_are_found_like_mdbook_finds_them() {
        let src = "x\n// ANCHOR: run\nfn run() {}\n// ANCHOR_END: run\n// ANCHOR: open\n";
        assert_eq!(anchored(src, "run").unwrap(), vec!["fn run() {}"]);
        assert!(
            anchored(src, "missing")
                .unwrap_err()
                .contains("no `ANCHOR: missing`")
        );
        assert!(
            anchored(src, "open")
                .unwrap_err()
                .contains("no `ANCHOR_END")
        );
        // `run` must not match `run_all`
        assert!(anchored("// ANCHOR: run_all\n// ANCHOR_END: run_all\n", "run").is_err());
    }

    #[test]
    fn pasted_rust_is_refused_and_included_rust_is_not() {
        assert!(pasted_listings("```rust\n{{#include a.rs:x}}\n```\n").is_empty());
        assert!(pasted_listings("```text\nfn main() {}\n```\n").is_empty());
        let bad = pasted_listings("```rust,ignore\nfn main() {}\n```\n");
        assert_eq!(bad.len(), 1, "{bad:?}");
    }

    #[test]
    fn syscalls_are_found_in_calls_imports_and_libc() {
        let code = code_of(
            "use nix::unistd::{Pid, fork, pipe2};\n\
             use nix::mount::{MsFlags, mount};\n\
             // call(\"commented\", ...)\n\
             fn f() {\n\
                 call(\n        \"pivot_root\", x, || pivot_root(a, b));\n\
                 workshop::call(\"socket\", \"\", || s());\n\
                 let rc = unsafe { libc::syscall(libc::SYS_clone3, 1) };\n\
                 unsafe { libc::prctl(libc::PR_CAPBSET_DROP, 0) };\n\
                 nix::unistd::sethostname(h);\n\
                 let _ = unsafe { fork() };\n\
                 nl.request(\"netlink RTM_NEWLINK\", a, b, MS_REC);\n\
             }\n\
             #[cfg(test)]\n\
             mod tests {\n    fn t() { call(\"getpid\", \"\", || x()); }\n}\n",
        );
        let names: BTreeSet<String> = string_args(&code, "call(")
            .into_iter()
            .chain(
                string_args(&code, ".request(")
                    .into_iter()
                    .map(|n| n.trim_start_matches("netlink ").to_owned()),
            )
            .chain(idents_after(&code, "libc::SYS_"))
            .chain(nix_functions_called(&code))
            .collect();
        for want in [
            "pivot_root",
            "socket",
            "clone3",
            "sethostname",
            "fork",
            "RTM_NEWLINK",
        ] {
            assert!(names.contains(want), "{want} not in {names:?}");
        }
        assert!(
            !names.contains("commented") && !names.contains("getpid"),
            "{names:?}"
        );
        assert!(
            !names.contains("pipe2") && !names.contains("mount"),
            "imported, never called: {names:?}"
        );
        assert!(code.contains("libc::prctl("));
    }

    #[test]
    fn only_the_first_cell_of_a_table_row_counts() {
        let keys = table_keys(
            "| call | what |\n|---|---|\n| `pivot_root` | uses `mount` |\n\
             | `PR_CAP_AMBIENT`, `PR_CAP_AMBIENT_CLEAR_ALL` | x |\n| `execvp(3)` | y |\n\
             the `setns` call in prose\n",
        );
        for key in [
            "pivot_root",
            "PR_CAP_AMBIENT",
            "PR_CAP_AMBIENT_CLEAR_ALL",
            "execvp",
        ] {
            assert!(keys.contains(key), "{key} not in {keys:?}");
        }
        assert!(!keys.contains("mount"), "a later cell does not count");
        assert!(!keys.contains("setns"), "prose does not count");
    }

    #[test]
    fn base64_round_trip() {
        assert_eq!(base64_decode("aGVsbG8gd29ybGQ=").unwrap(), b"hello world");
        assert_eq!(base64_decode("AAEC/w==").unwrap(), vec![0, 1, 2, 255]);
    }

    #[test]
    fn every_recording_has_a_unique_file() {
        let files: BTreeSet<&str> = RECORDINGS.iter().map(|r| r.file).collect();
        assert_eq!(files.len(), RECORDINGS.len());
        assert!(RECORDINGS.iter().all(|r| r.file.ends_with(".txt")));
    }
}
