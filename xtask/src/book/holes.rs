//! Issue #18's rule: a chapter explains the idea, the syscalls and the run,
//! but does not print the function its exercise asks for before the
//! exercise.
//!
//! For each exercise N (`exercises/exNN-*/`), its *holes* are the functions
//! of the starter whose body contains `todo!(`. In chapter N's page
//! (`book/src/chNN-*.md`), no include above the `## Exercise N` heading may
//! print the definition of a hole: the anchored region of an
//! `{{#include FILE:ANCHOR}}`, the whole file of an `{{#include FILE}}`, and
//! the whole file of an `{{#rustdoc_include}}` (its hidden lines are one
//! click away) are searched for `fn NAME`. After the exercise, a pointer to
//! the step's version is fine.
//!
//! Code the exercise is given does not count, whatever its functions are
//! called (step06's `environ::apply` is not exercise 6's `apply`): the
//! files its sources compile by `#[path = "..."]` (with everything under a
//! `mod.rs` so compiled), the earlier steps it builds on, and `workshop`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::check::{anchored, includes};

/// A function of a starter whose body holds a `todo!(`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Hole {
    pub name: String,
    /// Workspace-relative path of the starter file.
    pub file: String,
}

/// One line per include, above the exercise, that prints a hole.
pub(super) fn hole_problems(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for (number, dir) in exercises(&root.join("exercises"))? {
        let holes = holes_of_exercise(root, &dir)?;
        if holes.is_empty() {
            continue;
        }
        let given = Given::of(root, number, &dir)?;
        let Some(page) = chapter(&root.join("book/src"), number)? else {
            problems.push(format!(
                "{}: exercise {number} has no chapter book/src/ch{number:02}-*.md",
                shown(root, &dir)
            ));
            continue;
        };
        let text = fs::read_to_string(&page).with_context(|| format!("read {}", page.display()))?;
        problems.extend(page_problems(
            &shown(root, &page),
            &page,
            &text,
            number,
            &holes,
            &given,
        ));
    }
    Ok(problems)
}

/// The offences of one chapter page against its exercise's holes.
fn page_problems(
    shown_page: &str,
    page: &Path,
    text: &str,
    number: u32,
    holes: &[Hole],
    given: &Given,
) -> Vec<String> {
    let heading = format!("## Exercise {number}");
    let exercise_line = text.lines().position(|l| {
        l.trim_end()
            .strip_prefix(&heading)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_digit()))
    });
    let Some(exercise_line) = exercise_line.map(|n| n + 1) else {
        return vec![format!(
            "{shown_page}: no `{heading}` heading; the rule that keeps exercise {number}'s \
             answer out of the chapter needs it"
        )];
    };
    let dir = page.parent().unwrap_or(Path::new("."));
    let mut problems = Vec::new();
    for inc in includes(text) {
        if inc.line >= exercise_line {
            continue;
        }
        let target = dir.join(&inc.path);
        if given.contains(&target) {
            continue;
        }
        let Ok(source) = fs::read_to_string(&target) else {
            continue; // include_problems reports it
        };
        let printed = match (&inc.anchor, inc.rustdoc) {
            (Some(anchor), false) => match anchored(&source, anchor) {
                Ok(lines) => lines.join("\n"),
                Err(_) => continue, // include_problems reports it
            },
            _ => source,
        };
        let defined = defined_fns(&printed);
        for hole in holes.iter().filter(|h| defined.contains(&h.name)) {
            let what = match (&inc.anchor, inc.rustdoc) {
                (Some(anchor), false) => format!("{}:{anchor}", inc.path),
                (Some(anchor), true) => {
                    format!(
                        "{}:{anchor} (rustdoc_include shows the whole file)",
                        inc.path
                    )
                }
                (None, _) => format!("{} (the whole file)", inc.path),
            };
            problems.push(format!(
                "{shown_page}: line {}: the include of {what} prints `fn {}`, a hole of \
                 exercise {number} ({}); above `{heading}`, teach it without the answer \
                 (prose, the syscalls in order, the recorded `-x` run, helpers that are \
                 not holes), and point to the step's file after the exercise",
                inc.line, hole.name, hole.file
            ));
        }
    }
    problems
}

/// The code an exercise is given as it is, not written by the learner.
#[derive(Debug, Default)]
pub(super) struct Given {
    /// Files compiled by `#[path]`, canonical.
    files: Vec<PathBuf>,
    /// Directories whose every file is given: a `#[path]` `mod.rs`'s, the
    /// earlier steps', `workshop`'s.
    dirs: Vec<PathBuf>,
}

impl Given {
    /// For exercise `number` in `dir`.
    fn of(root: &Path, number: u32, dir: &Path) -> Result<Given> {
        let mut given = Given::default();
        let steps = root.join("steps");
        if let Ok(entries) = fs::read_dir(&steps) {
            for entry in entries {
                let path = entry?.path();
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let earlier = name
                    .strip_prefix("step")
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| n < number);
                if earlier || name == "workshop" {
                    given.dirs.extend(path.canonicalize().ok());
                }
            }
        }
        let mut files = Vec::new();
        collect_rs(&dir.join("src"), &mut files)?;
        for file in files {
            let text =
                fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
            let here = file.parent().unwrap_or(Path::new("."));
            for rel in path_attributes(&text) {
                let Ok(target) = here.join(rel).canonicalize() else {
                    continue;
                };
                if target.file_name().is_some_and(|n| n == "mod.rs") {
                    given.dirs.extend(target.parent().map(Path::to_path_buf));
                }
                given.files.push(target);
            }
        }
        Ok(given)
    }

    fn contains(&self, path: &Path) -> bool {
        let Ok(path) = path.canonicalize() else {
            return false;
        };
        self.files.contains(&path) || self.dirs.iter().any(|d| path.starts_with(d))
    }
}

/// The paths of a file's `#[path = "..."]` attributes.
fn path_attributes(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("#[path"))
        .filter_map(|rest| rest.trim_start().strip_prefix('='))
        .filter_map(|rest| rest.trim().strip_prefix('"'))
        .filter_map(|rest| rest.split_once('"').map(|(p, _)| p))
        .collect()
}

/// `exercises/exNN-*/` directories, with their number, sorted.
fn exercises(dir: &Path) -> Result<Vec<(u32, PathBuf)>> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(Vec::new()); // a workspace without exercises has no holes
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(number) = numbered(&name, "ex") {
            if path.is_dir() {
                found.push((number, path));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// `NN` of `{prefix}NN-...`.
fn numbered(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let (digits, _) = rest.split_once('-')?;
    if digits.len() != 2 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `book/src/chNN-*.md`.
fn chapter(src: &Path, number: u32) -> Result<Option<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(src).with_context(|| format!("read {}", src.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".md") && numbered(&name, "ch") == Some(number) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found.into_iter().next())
}

/// The holes of every `.rs` file under the exercise's `src/`.
fn holes_of_exercise(root: &Path, dir: &Path) -> Result<Vec<Hole>> {
    let mut files = Vec::new();
    collect_rs(&dir.join("src"), &mut files)?;
    files.sort();
    let mut holes = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
        for name in holes_in(&text) {
            holes.push(Hole {
                name,
                file: shown(root, &file),
            });
        }
    }
    Ok(holes)
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            collect_rs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Rust source with the text of comments and of string and char literals
/// turned into spaces (quotes and newlines kept), so that a `todo!(` or
/// `fn x` in a comment or a string is not code.
fn blanked(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let prev = if i == 0 { None } else { Some(chars[i - 1]) };
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if (c == 'r' || (c == 'b' && next == Some('r')))
            && !prev.is_some_and(is_ident)
            && raw_string_hashes(&chars[i..]).is_some()
        {
            // r"...", r#"..."#, br"...": no escapes, ends at `"` and the hashes.
            let (prefix, hashes) = raw_string_hashes(&chars[i..]).unwrap_or((0, 0));
            for &p in &chars[i..i + prefix] {
                out.push(p);
            }
            i += prefix;
            while i < chars.len() {
                if chars[i] == '"'
                    && chars[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes
                {
                    out.push('"');
                    out.extend(std::iter::repeat_n('#', hashes));
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                    if i < chars.len() {
                        out.push(blank(chars[i]));
                        i += 1;
                    }
                } else if chars[i] == '"' {
                    out.push('"');
                    i += 1;
                    break;
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == '\'' && next == Some('\\') {
            // '\n', '\'', '\u{..}': up to the closing quote.
            out.push('\'');
            i += 1;
            out.push(' ');
            i += 1; // the backslash
            if i < chars.len() {
                out.push(' ');
                i += 1; // the escaped char, which may be a quote
            }
            while i < chars.len() && chars[i] != '\'' && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
            if i < chars.len() && chars[i] == '\'' {
                out.push('\'');
                i += 1;
            }
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            out.push_str("' '");
            i += 3;
        } else {
            // A lifetime's quote, or code.
            out.push(c);
            i += 1;
        }
    }
    out
}

/// For a raw string starting at `s[0]` (`r"`, `r#"`, `br##"`): the length
/// of its opening (prefix, hashes and quote) and the number of hashes.
fn raw_string_hashes(s: &[char]) -> Option<(usize, usize)> {
    let start = if s.first() == Some(&'b') { 1 } else { 0 };
    if s.get(start) != Some(&'r') {
        return None;
    }
    let hashes = s[start + 1..].iter().take_while(|&&c| c == '#').count();
    (s.get(start + 1 + hashes) == Some(&'"')).then_some((start + 2 + hashes, hashes))
}

/// Each `fn NAME` definition of (blanked) code: the name, and the byte
/// offset just after it.
fn fn_names(code: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("fn") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let after = &code[at + 2..];
        if !after.starts_with(char::is_whitespace) {
            continue; // `fnord`, or `fn(` the pointer type
        }
        let name_start = after.len() - after.trim_start().len();
        let rest = &after[name_start..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = rest[..end].trim_start_matches("r#");
        let tail = rest[end..].trim_start();
        if !name.is_empty() && (tail.starts_with('(') || tail.starts_with('<')) {
            found.push((name.to_owned(), at + 2 + name_start + end));
        }
    }
    found
}

/// The functions a piece of Rust source defines (`fn NAME(` or `fn NAME<`),
/// comments and strings aside.
pub(super) fn defined_fns(text: &str) -> Vec<String> {
    fn_names(&blanked(text))
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// The functions of a Rust file whose body contains `todo!(`.
pub(super) fn holes_in(text: &str) -> Vec<String> {
    let code = blanked(text);
    let bytes = code.as_bytes();
    let mut holes = Vec::new();
    for (name, from) in fn_names(&code) {
        // The body opens at the first `{` outside the signature's (...) and
        // [...] (`[u8; 4]` holds a `;`); a `;` first means no body.
        let mut depth = 0i32;
        let mut open = None;
        for (i, &b) in bytes.iter().enumerate().skip(from) {
            match b {
                b'(' | b'[' => depth += 1,
                b')' | b']' => depth -= 1,
                b';' if depth == 0 => break,
                b'{' if depth == 0 => {
                    open = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let Some(open) = open else { continue };
        let mut braces = 0i32;
        let mut close = bytes.len();
        for (i, &b) in bytes.iter().enumerate().skip(open) {
            match b {
                b'{' => braces += 1,
                b'}' => {
                    braces -= 1;
                    if braces == 0 {
                        close = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        if code[open..close].contains("todo!(") {
            holes.push(name);
        }
    }
    holes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hole_is_a_function_whose_body_holds_a_todo() {
        let src = r##"
//! Write `fn helper() { todo!() }` below: a comment is not code.
/// Calls todo!( in a doc comment.
pub fn given(x: [u8; 4]) -> usize {
    let s = "todo!(";
    let r = r#"fn fake() { todo!() }"#;
    let c = '{';
    x.len() + s.len() + r.len() + c.len_utf8()
}

pub fn pivot_into<'a>(rootfs: &'a Path, n: [u8; 2]) -> Result<(), E> {
    // TODO: 1. bind mount
    if given([0; 4]) > 0 { return Ok(()); }
    todo!("bind mount, chdir, pivot_root")
}

impl Maps {
    pub fn full(uid: u32) -> Maps {
        todo!("exercise 9: the full map of {uid}")
    }
    fn ready(&self) -> bool { true }
}

trait T { fn declared(&self); }
"##;
        assert_eq!(holes_in(src), vec!["pivot_into", "full"]);
        assert_eq!(
            defined_fns(src),
            vec!["given", "pivot_into", "full", "ready", "declared"]
        );
    }

    /// Writes `text` to `root/rel`, making its directories.
    fn write_file(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// A workspace with exercise 3 (hole `pivot_into`, helper `detach`),
    /// step03's pivot.rs with an anchor around each, and chapter 3.
    fn workspace(chapter: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| write_file(root.path(), rel, text);
        write(
            "exercises/ex03-mount/src/pivot.rs",
            "pub fn pivot_into(rootfs: &Path) -> Result<(), E> {\n    todo!(\"pivot\")\n}\n\
             fn detach() -> Result<(), E> {\n    umount2(\".\", MNT_DETACH)\n}\n",
        );
        write(
            "steps/step03/src/pivot.rs",
            "// ANCHOR: pivot\npub fn pivot_into(rootfs: &Path) -> Result<(), E> {\n    \
             bind(rootfs)?;\n    detach()\n}\n// ANCHOR_END: pivot\n\
             // ANCHOR: detach\nfn detach() -> Result<(), E> {\n    umount2(\".\", MNT_DETACH)\n}\n\
             // ANCHOR_END: detach\n",
        );
        write("book/src/ch03-mount.md", chapter);
        root
    }

    #[test]
    fn a_chapter_that_prints_a_hole_before_its_exercise_fails() {
        let ws = workspace(
            "# 3\n\n```rust\n{{#include ../../steps/step03/src/pivot.rs:pivot}}\n```\n\n\
             ## Exercise 3\n",
        );
        let problems = hole_problems(ws.path()).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let p = &problems[0];
        for want in [
            "book/src/ch03-mount.md",
            "line 4",
            "pivot.rs:pivot",
            "`fn pivot_into`",
            "exercises/ex03-mount/src/pivot.rs",
            "point to the step's file after the exercise",
        ] {
            assert!(p.contains(want), "{want:?} not in {p}");
        }
    }

    #[test]
    fn a_chapter_that_prints_a_helper_passes() {
        let ws = workspace(
            "# 3\n\n```rust\n{{#include ../../steps/step03/src/pivot.rs:detach}}\n```\n\n\
             ## Exercise 3\n\nThe step's version:\n\n\
             ```rust\n{{#include ../../steps/step03/src/pivot.rs:pivot}}\n```\n",
        );
        assert_eq!(hole_problems(ws.path()).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn whole_files_and_rustdoc_includes_print_every_function() {
        let ws = workspace(
            "# 3\n\n```rust\n{{#rustdoc_include ../../steps/step03/src/pivot.rs:detach}}\n```\n\
             ```rust\n{{#include ../../steps/step03/src/pivot.rs}}\n```\n\n## Exercise 3\n",
        );
        let problems = hole_problems(ws.path()).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("line 4") && problems[0].contains("rustdoc_include"));
        assert!(problems[1].contains("line 7") && problems[1].contains("the whole file"));
    }

    #[test]
    fn a_function_of_the_same_name_in_given_code_passes() {
        // step03's mount.rs, compiled by the exercise as it is, has a
        // `pivot_into` of its own; so has step02, which exercise 3 builds on.
        let ws = workspace(
            "# 3\n\n```rust\n{{#include ../../steps/step03/src/mount.rs:other}}\n```\n\
             ```rust\n{{#include ../../steps/step02/src/pid.rs}}\n```\n\n## Exercise 3\n",
        );
        let write = |rel: &str, text: &str| write_file(ws.path(), rel, text);
        write(
            "steps/step03/src/mount.rs",
            "// ANCHOR: other\nfn pivot_into() {}\n// ANCHOR_END: other\n",
        );
        write("steps/step02/src/pid.rs", "fn pivot_into() {}\n");
        let main = "#[path = \"../../../steps/step03/src/mount.rs\"]\nmod mount;\n";
        write("exercises/ex03-mount/src/main.rs", main);
        assert_eq!(hole_problems(ws.path()).unwrap(), Vec::<String>::new());
        // Without the #[path], mount.rs's is the answer printed.
        write("exercises/ex03-mount/src/main.rs", "mod pivot;\n");
        assert_eq!(hole_problems(ws.path()).unwrap().len(), 1);
    }

    #[test]
    fn a_chapter_without_its_exercise_heading_is_reported() {
        let ws = workspace("# 3\n\n## Exercise 30\n");
        let problems = hole_problems(ws.path()).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("no `## Exercise 3` heading"),
            "{problems:?}"
        );
    }
}
