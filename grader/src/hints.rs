//! `cargo run -p grader -- hint ex03`: the next hint of an exercise, one at
//! a time, and a record of how many a learner has read.
//!
//! The hints are `exercises/hints.toml`, each exercise's from diagnosis
//! (what to observe) to the answer last. Revealing one writes the count to
//! `exercises/hints-used.txt` in the learner's checkout (one line per
//! exercise: `ex03 2`), which they commit with their work; the scorecard
//! shows it next to each exercise. It is a record, not a lock: the hints
//! are in the repository for anyone to read, and the file can be edited.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// Where the hints are, relative to a checkout.
pub const HINTS: &str = "exercises/hints.toml";
/// Where the count of hints read is kept, relative to a checkout.
pub const USED: &str = "exercises/hints-used.txt";

#[derive(Debug, Deserialize)]
struct File {
    exercises: Vec<Entry>,
}

/// One exercise's hints.
#[derive(Debug, Deserialize)]
pub struct Entry {
    pub name: String,
    pub hints: Vec<String>,
}

/// The hints of every exercise in `checkout`.
pub fn load(checkout: &Path) -> anyhow::Result<Vec<Entry>> {
    let path = checkout.join(HINTS);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path:?}"))?;
    let file: File = toml::from_str(&text).with_context(|| format!("parsing {path:?}"))?;
    Ok(file.exercises)
}

/// How many hints of each exercise have been read in `checkout` (none when
/// the record is missing; lines that do not parse are skipped).
pub fn used(checkout: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(checkout.join(USED)).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, n) = l.split_once(' ')?;
            Some((name.trim().to_owned(), n.trim().parse().ok()?))
        })
        .collect()
}

fn write_used(checkout: &Path, used: &BTreeMap<String, usize>) -> anyhow::Result<()> {
    let mut text = String::from(
        "# Hints read, per exercise: written by `cargo run -p grader -- hint exNN`.\n\
         # Commit it with your work; the scorecard shows it.\n",
    );
    for (name, n) in used {
        text.push_str(&format!("{name} {n}\n"));
    }
    let path = checkout.join(USED);
    std::fs::write(&path, text).with_context(|| format!("writing {path:?}"))
}

/// The checkout `start` is in: the nearest ancestor with `exercises/hints.toml`.
pub fn find_checkout(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join(HINTS).is_file())
        .map(Path::to_owned)
}

/// Reveals the next hint of `exercise` in `checkout`, records it, and
/// returns what to print. Once all are read, the last one again.
pub fn reveal(checkout: &Path, exercise: &str) -> anyhow::Result<String> {
    let entries = load(checkout)?;
    let Some(entry) = entries.iter().find(|e| e.name == exercise) else {
        bail!(
            "no exercise {exercise} in {HINTS} (known: {})",
            entries
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let total = entry.hints.len();
    if total == 0 {
        bail!("{exercise} has no hints in {HINTS}");
    }
    let mut used = used(checkout);
    let before = used.get(exercise).copied().unwrap_or(0).min(total);
    let now = (before + 1).min(total);
    used.insert(exercise.to_owned(), now);
    write_used(checkout, &used)?;
    let text = &entry.hints[now - 1];
    let note = if before == total {
        format!("that was the last one; all {total} are read")
    } else if now == total {
        "the last one: it gives the answer away".to_owned()
    } else {
        format!("`hint {exercise}` again for the next; {USED} records it")
    };
    Ok(format!(
        "{exercise}, hint {now} of {total} ({note}):\n\n{text}\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkout() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("exercises")).unwrap();
        std::fs::write(
            dir.path().join(HINTS),
            "[[exercises]]\nname = \"ex01\"\nhints = [\"look\", \"think\", \"answer\"]\n\n\
             [[exercises]]\nname = \"ex02\"\nhints = [\"only\"]\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn hints_come_one_at_a_time_and_are_counted() {
        let c = checkout();
        let first = reveal(c.path(), "ex01").unwrap();
        assert!(first.starts_with("ex01, hint 1 of 3 ("), "{first}");
        assert!(first.ends_with("\n\nlook\n"), "{first}");
        assert_eq!(used(c.path()), BTreeMap::from([("ex01".into(), 1)]));
        assert!(reveal(c.path(), "ex01").unwrap().contains("think"));
        let last = reveal(c.path(), "ex01").unwrap();
        assert!(last.contains("3 of 3 (the last one") && last.contains("answer"));
        let again = reveal(c.path(), "ex01").unwrap();
        assert!(again.contains("3 of 3 (that was the last one"), "{again}");
        reveal(c.path(), "ex02").unwrap();
        assert_eq!(
            used(c.path()),
            BTreeMap::from([("ex01".into(), 3), ("ex02".into(), 1)])
        );
    }

    #[test]
    fn an_unknown_exercise_names_the_known_ones() {
        let c = checkout();
        let err = reveal(c.path(), "ex10").unwrap_err().to_string();
        assert_eq!(
            err,
            "no exercise ex10 in exercises/hints.toml (known: ex01, ex02)"
        );
        assert!(!c.path().join(USED).exists(), "nothing recorded");
    }

    #[test]
    fn the_checkout_is_found_from_below() {
        let c = checkout();
        let deep = c.path().join("exercises/ex01-uts/src");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(find_checkout(&deep).as_deref(), Some(c.path()));
    }

    #[test]
    fn a_hand_edited_record_is_read_as_far_as_it_parses() {
        let c = checkout();
        std::fs::write(c.path().join(USED), "# comment\nex01 2\nex02 lots\nbad\n").unwrap();
        assert_eq!(used(c.path()), BTreeMap::from([("ex01".into(), 2)]));
    }

    #[test]
    fn the_repositorys_hints_parse() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let entries = load(repo).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        let known: Vec<&str> = crate::EXERCISES.iter().map(|(e, _)| *e).collect();
        assert_eq!(names, known, "one table per exercise the grader knows");
        for e in &entries {
            assert!(e.hints.len() >= 3, "{}: {} hints", e.name, e.hints.len());
        }
    }
}
