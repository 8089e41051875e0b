//! A grading run over a class of three sample learners, made in a temp dir
//! from this repository: `complete` (the solutions copied into the exercise
//! slots), `partial` (exercise 1 solved, exercise 2 as shipped) and
//! `broken` (exercise 1 does not compile). Only ex01 and ex02 are graded,
//! to keep it fast. The scorecard is checked in all three forms: the table,
//! the JSON against `grader/scorecard.schema.json`, the JUnit XML parsed.
//! Needs root (the checks create namespaces), like every black-box test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("grader/ is inside the repository")
        .to_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A small checkout that builds ex01 and ex02: the sources they need, and
/// a root manifest whose members are only those.
fn checkout(class: &Path, name: &str) -> PathBuf {
    let repo = repo();
    let dir = class.join(name);
    // Every crate the root manifest's [workspace.dependencies] names (cargo
    // reads them all); only the members below are built.
    for part in [
        "steps",
        "testkit",
        "rootfs-fetcher",
        "exercises/ex01-uts",
        "exercises/ex02-pid",
    ] {
        copy_dir(&repo.join(part), &dir.join(part));
    }
    let manifest = std::fs::read_to_string(repo.join("Cargo.toml")).unwrap();
    let start = manifest.find("members = [").expect("a members list");
    let end = start + manifest[start..].find(']').unwrap() + 1;
    let members = "members = [\"steps/workshop\", \"steps/step01\", \"steps/step02\", \
                   \"testkit\", \"exercises/ex01-uts\", \"exercises/ex02-pid\"]";
    let manifest = format!("{}{members}{}", &manifest[..start], &manifest[end..]);
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(repo.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir
}

fn solve(dir: &Path, exercise: &str, file: &str) {
    std::fs::copy(
        repo().join("solutions").join(exercise).join(file),
        dir.join("exercises").join(exercise).join(file),
    )
    .unwrap();
}

#[test]
fn a_class_of_three_gets_the_expected_scorecard() {
    if let Err(why) = testkit::run::require_root() {
        panic!("{why}");
    }
    let class = tempfile::tempdir().unwrap();
    let complete = checkout(class.path(), "complete");
    solve(&complete, "ex01-uts", "src/uts.rs");
    solve(&complete, "ex02-pid", "src/init.rs");
    let partial = checkout(class.path(), "partial");
    solve(&partial, "ex01-uts", "src/uts.rs");
    let broken = checkout(class.path(), "broken");
    std::fs::write(
        broken.join("exercises/ex01-uts/src/uts.rs"),
        "pub fn enter_new_uts(hostname: &str) -> Result<(), workshop::SyscallError> {\n    \
         hostname.len()\n}\n",
    )
    .unwrap();

    let out_dir = tempfile::tempdir().unwrap();
    let (json_path, junit_path) = (
        out_dir.path().join("card.json"),
        out_dir.path().join("card.xml"),
    );
    let grader = Command::new(env!("CARGO_BIN_EXE_grader"))
        .arg("--json")
        .arg(&json_path)
        .arg("--junit")
        .arg(&junit_path)
        .args(["--only", "ex01,ex02"])
        .arg(class.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its own cgroup is named after its pid (other runs may be grading too).
    let own_cgroup = format!("grader-{}", grader.id());
    let out = grader.wait_with_output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "not everyone passed: exit 1\n{table}\n{stderr}"
    );

    // The table: one row per learner, in name order. As shipped, ex02 still
    // passes the checks that never reach PID 1 (flag parsing, root), so its
    // count is not fixed here: only that it failed out of 17.
    let rows: Vec<Vec<String>> = table
        .lines()
        .skip(1)
        .take(3)
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(|c| match c.strip_prefix("failed ") {
                    Some(n) if n.ends_with("/17") && n != "17/17" => "failed n/17".to_owned(),
                    _ => c.to_owned(),
                })
                .collect()
        })
        .collect();
    assert_eq!(
        rows,
        [
            vec!["broken", "did not build", "failed n/17"],
            vec!["complete", "passed 9/9", "passed 17/17"],
            vec!["partial", "passed 9/9", "failed n/17"],
        ],
        "\n{table}"
    );
    assert!(
        table.contains("broken ex01: error[E0308]: mismatched types"),
        "the build error in words:\n{table}"
    );
    assert!(
        table.contains("partial ex02: uts::hostname_inside:"),
        "the first failing check in words:\n{table}"
    );

    // JSON, valid against the committed schema.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("grader/scorecard.schema.json")).unwrap(),
    )
    .unwrap();
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&card)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "the JSON breaks the schema: {errors:?}");
    let status =
        |learner: usize, ex: usize| card["learners"][learner]["exercises"][ex]["status"].clone();
    assert_eq!(status(0, 0), "did_not_build");
    assert_eq!(status(1, 0), "passed");
    assert_eq!(status(1, 1), "passed");
    assert_eq!(status(2, 1), "failed");

    // JUnit XML, as CI parses it: one case per check (9+17 for complete and
    // partial, 17 for broken's ex02), one error case for broken's ex01; as
    // many failures as the JSON counts.
    let failed_checks: u64 = card["learners"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["exercises"].as_array().unwrap())
        .filter(|e| e["status"] != "did_not_build")
        .map(|e| e["checks_total"].as_u64().unwrap() - e["checks_passed"].as_u64().unwrap())
        .sum();
    assert!(failed_checks >= 2, "both ex02 starters fail some checks");
    let xml = std::fs::read_to_string(&junit_path).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed JUnit XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("70"), "{xml}");
    assert_eq!(root.attribute("errors"), Some("1"));
    assert_eq!(
        root.attribute("failures"),
        Some(failed_checks.to_string().as_str())
    );
    let failures = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .count();
    assert_eq!(failures as u64, failed_checks);
    let suites: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .filter_map(|n| n.attribute("name"))
        .collect();
    assert_eq!(
        suites,
        [
            "broken/ex01",
            "broken/ex02",
            "complete/ex01",
            "complete/ex02",
            "partial/ex01",
            "partial/ex02"
        ]
    );

    // Nothing of the run is left: not its cgroup.
    let left: Vec<_> = testkit::host::workshop_cgroups()
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| *n == *own_cgroup))
        .collect();
    assert!(left.is_empty(), "the grader's cgroup is left: {left:?}");
}
