//! Refuses a submission that reaches the answer instead of writing it.
//!
//! An exercise is the chapter's step with the chapter's module taken out:
//! exercise 2 compiles step02's `pid.rs` and `container.rs` with the
//! learner's `init.rs` in place of step02's, and depends on step01 only. A
//! learner could still pass by bringing the answer back in: a dependency on
//! `step02` (`pub use step02::init::init`), `#[path]` or `include!` of
//! step02's `init.rs` or of a solution, or a symlink to one of them.
//!
//! Every one of those leaves its mark in the dep-info file cargo writes
//! next to the binary (`target/debug/ex02.d`): the list of every source
//! file of the workspace that went into it, its own and its path
//! dependencies'. So the grader reads that list, resolves each path (`..`
//! and symlinks), and refuses the exercise when it names:
//! - a file under `solutions/`;
//! - a file of a later chapter's step (it holds the answer too);
//! - a file of the chapter's own step other than the ones the exercise
//!   compiles by design ([`OWN_STEP_FILES`]).
//!
//! Exercises not yet reshaped this way still depend on their own step; for
//! them only the first two rules apply, and [`OWN_STEP_FILES`] says `None`.

use std::path::{Path, PathBuf};

/// Per exercise: the files of its own chapter's step that it compiles by
/// design, or `None` while it still depends on that step as a crate (then
/// the step's files cannot be told apart from the answer).
pub const OWN_STEP_FILES: [(&str, Option<&[&str]>); 10] = [
    ("ex01", Some(&[])),
    ("ex02", Some(&["src/container.rs", "src/pid.rs"])),
    (
        "ex03",
        Some(&["src/container.rs", "src/mount.rs", "src/rootfs.rs"]),
    ),
    (
        "ex04",
        Some(&[
            "src/container.rs",
            "src/net.rs",
            "src/net/etc.rs",
            "src/net/rtnl.rs",
        ]),
    ),
    (
        "ex05",
        Some(&[
            "src/container.rs",
            "src/clone_into_cgroup.rs",
            "src/cgroup/mod.rs",
            "src/cgroup/cgroupfs.rs",
            "src/cgroup/detect.rs",
            "src/cgroup/error.rs",
            "src/cgroup/fake.rs",
            "src/cgroup/limits.rs",
            "src/cgroup/namespace.rs",
            "src/cgroup/stale.rs",
            "src/cgroup/tests.rs",
            "src/cgroup/v1.rs",
        ]),
    ),
    (
        "ex06",
        Some(&[
            "src/container.rs",
            "src/caps.rs",
            "src/devices.rs",
            "src/environ.rs",
            "src/masked.rs",
            "src/tty.rs",
        ]),
    ),
    (
        "ex07",
        Some(&[
            "src/container.rs",
            "src/seccomp/mod.rs",
            "src/seccomp/bpf.rs",
            "src/seccomp/default.rs",
            "src/seccomp/profile.rs",
            "src/seccomp/syscalls.rs",
            "src/seccomp/tests.rs",
        ]),
    ),
    (
        "ex08",
        Some(&[
            "src/container.rs",
            "src/rundir.rs",
            "src/user.rs",
            "src/image/mod.rs",
            "src/image/layer.rs",
            "src/image/manifest.rs",
            "src/image/reference.rs",
            "src/image/registry.rs",
            "src/image/store.rs",
        ]),
    ),
    (
        "ex09",
        Some(&["src/container.rs", "src/idmap.rs", "src/rootless.rs"]),
    ),
    (
        "ex10",
        Some(&[
            "src/cgroups/mod.rs",
            "src/cgroups/fs.rs",
            "src/cgroups/tests.rs",
            "src/cgroups/v1.rs",
            "src/cgroups/v2.rs",
            "src/create.rs",
            "src/exec.rs",
            "src/hooks.rs",
            "src/init.rs",
            "src/ops.rs",
            "src/process.rs",
            "src/rootfs.rs",
            "src/spec.rs",
            "src/state.rs",
            "src/sync.rs",
        ]),
    ),
];

/// Why `exercise` (of `chapter`) is refused, in one line, or `None` when
/// its sources are its own. `dep_info` is the binary's dep-info file,
/// `checkout` the tree it was built from.
pub fn refusal(exercise: &str, chapter: u8, dep_info: &str, checkout: &Path) -> Option<String> {
    let root = checkout.canonicalize().ok()?;
    let own = OWN_STEP_FILES
        .iter()
        .find(|(e, _)| *e == exercise)
        .and_then(|(_, files)| *files);
    for source in sources(dep_info) {
        // A file that no longer exists cannot be judged: cargo rewrites the
        // dep-info on every build, so this is a race with the learner's
        // build script, not a way in.
        let Ok(real) = source.canonicalize() else {
            continue;
        };
        let Ok(rel) = real.strip_prefix(&root) else {
            continue;
        };
        if let Some(why) = judge(rel, chapter, own) {
            let shown = source.strip_prefix(&root).unwrap_or(&source);
            let via = if shown == rel {
                String::new()
            } else {
                format!(" (through {})", shown.display())
            };
            return Some(format!(
                "refused: {exercise} compiles {}{via}, {why}; write the chapter's module \
                 yourself",
                rel.display(),
            ));
        }
    }
    None
}

/// Why one source file (relative to the checkout, resolved) may not be in
/// the exercise of `chapter`.
fn judge(rel: &Path, chapter: u8, own: Option<&[&str]>) -> Option<&'static str> {
    let mut parts = rel.components().map(|c| c.as_os_str().to_string_lossy());
    let first = parts.next()?;
    if first == "solutions" {
        return Some("which is a solution");
    }
    if first != "steps" {
        return None;
    }
    let step: u8 = parts.next()?.strip_prefix("step")?.parse().ok()?;
    if step > chapter {
        return Some("which belongs to a later chapter's step and holds the answer");
    }
    if step < chapter {
        return None;
    }
    let within: PathBuf = parts.map(|p| p.into_owned()).collect();
    match own {
        None => None,
        Some(allowed) if allowed.iter().any(|a| Path::new(a) == within) => None,
        Some(_) => Some("which is the chapter's own step: the answer"),
    }
}

/// The source files a dep-info file lists (`target: a b c`, spaces in names
/// escaped as `\ `).
fn sources(dep_info: &str) -> Vec<PathBuf> {
    let Some(line) = dep_info.lines().find(|l| l.contains(": ")) else {
        return Vec::new();
    };
    let Some((_, list)) = line.split_once(": ") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = list.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            ' ' => {
                if !current.is_empty() {
                    out.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(PathBuf::from(current));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "exercises/ex02-pid/src/init.rs",
            "exercises/ex02-pid/src/main.rs",
            "steps/step01/src/lib.rs",
            "steps/step02/src/pid.rs",
            "steps/step02/src/init.rs",
            "steps/step02/src/lib.rs",
            "steps/step03/src/lib.rs",
            "solutions/ex02-pid/src/init.rs",
        ] {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        dir
    }

    fn dep_info(root: &Path, files: &[&str]) -> String {
        let list: Vec<String> = files
            .iter()
            .map(|f| root.join(f).display().to_string().replace(' ', "\\ "))
            .collect();
        format!(
            "{}: {}\n",
            root.join("target/debug/ex02").display(),
            list.join(" ")
        )
    }

    #[test]
    fn the_shipped_exercise_is_its_own() {
        let t = tree();
        let d = dep_info(
            t.path(),
            &[
                "exercises/ex02-pid/src/main.rs",
                "exercises/ex02-pid/src/init.rs",
                "exercises/ex02-pid/src/../../../steps/step02/src/pid.rs",
                "steps/step01/src/lib.rs",
            ],
        );
        assert_eq!(refusal("ex02", 2, &d, t.path()), None);
    }

    #[test]
    fn the_steps_answer_a_later_step_or_a_solution_is_refused() {
        let t = tree();
        for (file, why) in [
            ("steps/step02/src/init.rs", "the chapter's own step"),
            ("steps/step02/src/lib.rs", "the chapter's own step"),
            ("steps/step03/src/lib.rs", "a later chapter's step"),
            ("solutions/ex02-pid/src/init.rs", "a solution"),
        ] {
            let d = dep_info(t.path(), &["exercises/ex02-pid/src/main.rs", file]);
            let got = refusal("ex02", 2, &d, t.path()).unwrap_or_default();
            assert!(
                got.starts_with("refused: ex02 compiles ") && got.contains(why),
                "{file}: {got}"
            );
        }
    }

    #[test]
    fn a_symlink_to_the_answer_is_followed() {
        let t = tree();
        let learner = t.path().join("exercises/ex02-pid/src/init.rs");
        std::fs::remove_file(&learner).unwrap();
        std::os::unix::fs::symlink("../../../steps/step02/src/init.rs", &learner).unwrap();
        let d = dep_info(t.path(), &["exercises/ex02-pid/src/init.rs"]);
        let got = refusal("ex02", 2, &d, t.path()).unwrap_or_default();
        assert!(
            got.contains("steps/step02/src/init.rs (through exercises/ex02-pid/src/init.rs)"),
            "{got}"
        );
    }

    #[test]
    fn an_exercise_not_yet_reshaped_may_use_its_own_step_only() {
        let t = tree();
        let d = dep_info(t.path(), &["steps/step02/src/init.rs"]);
        assert_eq!(refusal("ex03", 3, &d, t.path()), None);
        let d = dep_info(t.path(), &["solutions/ex02-pid/src/init.rs"]);
        assert!(refusal("ex03", 3, &d, t.path()).is_some());
    }

    #[test]
    fn escaped_spaces_stay_in_names() {
        assert_eq!(
            sources("out: /a\\ b/c.rs /d.rs\n\n/a\\ b/c.rs:\n"),
            [PathBuf::from("/a b/c.rs"), PathBuf::from("/d.rs")]
        );
    }
}
