//! `cargo xtask book check`: the book's includes, anchors, links,
//! recordings, generated diffs and reference tables agree with the code, and
//! `mdbook build` prints no warning.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::holes::hole_problems;
use super::{MDBOOK_VERSION, RECORDINGS, REFERENCE, supported_mdbook};

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
    problems.extend(hole_problems(root)?);
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
pub(super) struct Include {
    pub path: String,
    pub anchor: Option<String>,
    pub line: usize,
    /// `{{#rustdoc_include}}`: the whole file is in the page, the lines
    /// outside the anchor hidden behind a click.
    pub rustdoc: bool,
}

/// The includes of a page (`{{#include}}`, `{{#rustdoc_include}}`), in order.
pub(super) fn includes(text: &str) -> Vec<Include> {
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
                rustdoc: kind == "rustdoc_include",
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
pub(super) fn anchored<'a>(source: &'a str, anchor: &str) -> Result<Vec<&'a str>, String> {
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
const NIX_ALIASES: [(&str, &str); 5] = [
    // nix's `ttyname`: the C library's readlink of /proc/self/fd/N.
    ("ttyname", "readlink"),
    ("set_pdeathsig", "prctl"),
    ("set_no_new_privs", "prctl"),
    ("symlinkat", "symlinkat"),
    // `User::from_uid`: the C library's passwd lookup (step09).
    ("from_uid", "getpwuid_r"),
];

/// Functions reached through nix or libc that are not syscalls.
const NOT_SYSCALLS: [&str; 6] = [
    "makedev",
    // `Errno::result`: turns a libc return value into a Result.
    "result",
    "syscall",
    "from_raw",
    "from_bits_truncate",
    "empty",
];

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
                "book/src/recorded/{file}: no recording in xtask/src/book/record.rs makes it; \
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
pub(crate) fn mdbook() -> Result<PathBuf> {
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
pub(super) fn mdbook_build(book: &Path) -> Result<()> {
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
    (
        "step06-step07-container.diff",
        "steps/step06/src/container.rs",
        "steps/step07/src/container.rs",
    ),
    (
        "step07-step08-container.diff",
        "steps/step07/src/container.rs",
        "steps/step08/src/container.rs",
    ),
    (
        "step08-step09-container.diff",
        "steps/step08/src/container.rs",
        "steps/step09/src/container.rs",
    ),
];

/// Chapter 7's listing of the BPF program Docker's profile compiles to:
/// made by step07's own compiler, so it cannot drift from the code.
pub const SECCOMP_LISTING: &str = "seccomp-listing.txt";

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
pub(super) fn write_diffs(root: &Path) -> Result<()> {
    let dir = root.join("book/src/generated");
    fs::create_dir_all(&dir)?;
    for (file, old, new) in DIFFS {
        fs::write(dir.join(file), diff_text(root, old, new)?)?;
        eprintln!("book record: wrote book/src/generated/{file}");
    }
    fs::write(dir.join(SECCOMP_LISTING), step07::seccomp::book_listing())?;
    eprintln!("book record: wrote book/src/generated/{SECCOMP_LISTING}");
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
    let listing = root.join("book/src/generated").join(SECCOMP_LISTING);
    if fs::read_to_string(&listing).ok() != Some(step07::seccomp::book_listing()) {
        problems.push(format!(
            "book/src/generated/{SECCOMP_LISTING} is missing or stale: run `cargo xtask book record`"
        ));
    }
    if !included.contains(SECCOMP_LISTING) {
        problems.push(format!(
            "book/src/generated/{SECCOMP_LISTING} is included by no page"
        ));
    }
    Ok(problems)
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
                    line: 2,
                    rustdoc: false,
                },
                Include {
                    path: "recorded/x.txt".into(),
                    anchor: None,
                    line: 3,
                    rustdoc: false,
                },
            ]
        );
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
}
