//! A grading run over a class of five sample learners, made in a temp dir
//! from this repository: `complete` (the solutions copied into the exercise
//! slots, and a build script that records who ran it), `partial` (exercise
//! 1 solved, exercise 2 as shipped), `broken` (exercise 1 does not
//! compile), `cheater` (exercise 2 re-exports step02's `init`: refused,
//! zero) and `apart` (complete, with another anyhow in its Cargo.lock).
//! Only ex01 and ex02 are graded, to keep it fast. The scorecard is checked
//! in all three forms: the table, the JSON against
//! `grader/scorecard.schema.json`, the JUnit XML parsed. Then `partial`
//! pushes a fix and the class is graded again with the same --target-dir:
//! only `partial` is rebuilt. Needs root (the checks create namespaces, the
//! grader creates its build user), like every black-box test.

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
    // The hints, which `grader hint` reveals and the scorecard counts.
    std::fs::copy(
        repo.join("exercises/hints.toml"),
        dir.join("exercises/hints.toml"),
    )
    .unwrap();
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

/// A build script for ex01 that writes the uid it runs as into its OUT_DIR
/// (`/proc/self` belongs to the process's user) and refuses to run as root.
const RECORD_BUILDER: &str = r#"
use std::os::unix::fs::MetadataExt;
fn main() {
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    let out = std::env::var("OUT_DIR").unwrap();
    std::fs::write(format!("{out}/built-by"), uid.to_string()).unwrap();
    assert_ne!(uid, 0, "this build script ran as root");
}
"#;

/// anyhow 1.0.103 in place of the workspace's: another Cargo.lock.
fn other_lockfile(dir: &Path) {
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap();
    let start = lock.find("name = \"anyhow\"\n").expect("anyhow is locked");
    let end = start + lock[start..].find("\n\n").unwrap();
    let entry = "name = \"anyhow\"\nversion = \"1.0.103\"\n\
                 source = \"registry+https://github.com/rust-lang/crates.io-index\"\n\
                 checksum = \"2a4385e2e34eb35d6b3efe798b9eb88096925d87726c0798709bf56d9ed84af3\"";
    let lock = format!("{}{entry}{}", &lock[..start], &lock[end..]);
    std::fs::write(dir.join("Cargo.lock"), lock).unwrap();
}

/// Runs the grader on `class`; (exit code, table, stderr, JSON).
fn grade(class: &Path, target_dir: &Path, out_dir: &Path) -> (Option<i32>, String, String) {
    let (json_path, junit_path) = (out_dir.join("card.json"), out_dir.join("card.xml"));
    let grader = Command::new(env!("CARGO_BIN_EXE_grader"))
        .arg("--json")
        .arg(&json_path)
        .arg("--junit")
        .arg(&junit_path)
        .args(["--only", "ex01,ex02"])
        .arg("--target-dir")
        .arg(target_dir)
        .arg(class)
        // An instructor's shell with backtraces on: the scorecard must
        // still carry none.
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its own cgroup is named after its pid (other runs may be grading too).
    let own_cgroup = format!("grader-{}", grader.id());
    let out = grader.wait_with_output().unwrap();
    // Nothing of the run is left: not its cgroup.
    let left: Vec<_> = testkit::host::workshop_cgroups()
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| *n == *own_cgroup))
        .collect();
    assert!(left.is_empty(), "the grader's cgroup is left: {left:?}");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Fills an exercise's slot with its answer: the solution's own file, or,
/// for a solution that compiles its step's file by path (the answer written
/// once), that step file.
fn solve(dir: &Path, exercise: &str, file: &str) {
    let source = match exercise {
        "ex02-pid" => repo().join("steps/step02").join(file),
        _ => repo().join("solutions").join(exercise).join(file),
    };
    std::fs::copy(source, dir.join("exercises").join(exercise).join(file)).unwrap();
}

#[test]
fn a_class_of_five_gets_the_expected_scorecard_and_regrading_rebuilds_only_a_change() {
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

    std::fs::write(complete.join("exercises/ex01-uts/build.rs"), RECORD_BUILDER).unwrap();
    // `complete` read two hints of ex02 (`grader hint ex02`, twice).
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_grader"))
            .args(["hint", "ex02"])
            .current_dir(complete.join("exercises/ex02-pid"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let apart = checkout(class.path(), "apart");
    solve(&apart, "ex01-uts", "src/uts.rs");
    solve(&apart, "ex02-pid", "src/init.rs");
    other_lockfile(&apart);

    // Re-exports step02's init instead of writing one: refused, zero.
    let cheater = checkout(class.path(), "cheater");
    solve(&cheater, "ex01-uts", "src/uts.rs");
    std::fs::write(
        cheater.join("exercises/ex02-pid/src/init.rs"),
        "pub use step02::init::init;\n",
    )
    .unwrap();
    let manifest = cheater.join("exercises/ex02-pid/Cargo.toml");
    let toml = std::fs::read_to_string(&manifest).unwrap().replace(
        "[dependencies]\n",
        "[dependencies]\nstep02.workspace = true\n",
    );
    std::fs::write(&manifest, toml).unwrap();

    let out_dir = tempfile::tempdir().unwrap();
    let target_dir = tempfile::tempdir().unwrap();
    let (json_path, junit_path) = (
        out_dir.path().join("card.json"),
        out_dir.path().join("card.xml"),
    );
    let (code, table, stderr) = grade(class.path(), target_dir.path(), out_dir.path());
    assert_eq!(
        code,
        Some(1),
        "not everyone passed: exit 1\n{table}\n{stderr}"
    );

    // The table: one row per learner, in name order. As shipped, ex02 still
    // passes the checks that never reach PID 1 (flag parsing, root), so its
    // count is not fixed here: only that it failed out of 17.
    let rows = |table: &str| -> Vec<Vec<String>> {
        table
            .lines()
            .skip(1)
            .take(5)
            .map(|l| {
                l.split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| c.split(", hints ").next().unwrap_or(c))
                    .map(|c| match c.strip_prefix("failed ") {
                        Some(n) if n.ends_with("/17") && n != "17/17" => "failed n/17".to_owned(),
                        _ => c.to_owned(),
                    })
                    .collect()
            })
            .collect()
    };
    assert_eq!(
        rows(&table),
        [
            vec!["apart", "passed 9/9", "passed 17/17"],
            vec!["broken", "did not build", "failed n/17"],
            vec!["cheater", "passed 9/9", "refused"],
            vec!["complete", "passed 9/9", "passed 17/17"],
            vec!["partial", "passed 9/9", "failed n/17"],
        ],
        "\n{table}\n{stderr}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("complete ") && l.contains("passed 17/17, hints 2/")),
        "the hints read are on the scorecard:\n{table}"
    );
    assert!(
        table.contains("broken ex01: error[E0308]: mismatched types"),
        "the build error in words:\n{table}"
    );
    assert!(
        table.contains(
            "cheater ex02: refused: ex02 compiles steps/step02/src/init.rs, which is the \
             chapter's own step"
        ),
        "the reach-through in words:\n{table}"
    );
    assert!(
        table.contains("partial ex02: uts::hostname_inside:"),
        "the first failing check in words:\n{table}"
    );
    assert!(
        table.contains("apart: its Cargo.lock (") && table.contains("differs from the class's"),
        "the learner built apart is named:\n{table}"
    );
    // The failure notes: one line each, no backtrace, the panic's message.
    let note = table
        .lines()
        .find(|l| l.starts_with("partial ex02: "))
        .unwrap();
    assert!(
        note.chars().count() <= "partial ex02: ".len() + grader::report::NOTE_WIDTH,
        "{note}"
    );
    assert!(!table.contains("stack backtrace"), "{table}");
    // Progress: stderr is not a terminal here, so plain lines, one per
    // learner graded.
    for n in 1..=5 {
        assert!(
            stderr.contains(&format!("grader: [{n}/5] ")),
            "a progress line for learner {n}:\n{stderr}"
        );
    }

    // The build ran as the grader's unprivileged user: ex01's build script
    // wrote its uid (and would have failed the build as root).
    let builder = nix::unistd::User::from_name(grader::build::DEFAULT_BUILD_USER)
        .unwrap()
        .expect("the grader made its build user");
    let out_dirs: Vec<PathBuf> =
        std::fs::read_dir(target_dir.path().join("target/complete/debug/build"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("out/built-by").is_file())
            .collect();
    assert_eq!(
        out_dirs.len(),
        1,
        "one run of ex01's build script: {out_dirs:?}"
    );
    let recorded = std::fs::read_to_string(out_dirs[0].join("out/built-by")).unwrap();
    assert_eq!(recorded, builder.uid.to_string(), "the build script's uid");
    assert_ne!(builder.uid.as_raw(), 0);

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
    let (apart_i, broken_i, cheater_i, complete_i, partial_i) = (0, 1, 2, 3, 4);
    assert_eq!(status(cheater_i, 1), "refused");
    assert_eq!(
        card["learners"][complete_i]["exercises"][1]["hints_used"],
        2
    );
    assert_eq!(
        card["learners"][complete_i]["exercises"][0]["hints_used"],
        0
    );
    assert_eq!(
        card["learners"][cheater_i]["exercises"][1]["checks_passed"],
        0
    );
    assert_eq!(status(broken_i, 0), "did_not_build");
    assert_eq!(status(complete_i, 0), "passed");
    assert_eq!(status(complete_i, 1), "passed");
    assert_eq!(status(partial_i, 1), "failed");
    assert_eq!(status(apart_i, 1), "passed");
    let build = |learner: usize| card["learners"][learner]["build"].clone();
    for i in [broken_i, complete_i, partial_i] {
        assert_eq!(build(i)["dependencies"], "shared", "{}", build(i));
    }
    assert_eq!(build(apart_i)["dependencies"], "apart");
    assert_ne!(build(apart_i)["lockfile"], build(complete_i)["lockfile"]);
    assert_eq!(build(complete_i)["user"], grader::build::DEFAULT_BUILD_USER);
    // Whole in JSON: the starter's panic message is there, a backtrace not.
    let json_text = std::fs::read_to_string(&json_path).unwrap();
    assert!(!json_text.contains("stack backtrace"), "{json_text}");
    let partial_messages: String = card["learners"][partial_i]["exercises"][1]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["message"].as_str())
        .collect();
    assert!(
        partial_messages.contains("not yet implemented"),
        "the todo!()'s panic message reaches the scorecard: {partial_messages}"
    );

    // JUnit XML, as CI parses it: one case per check (9+17 for apart,
    // complete and partial, 17 for broken's ex02, 9 for cheater's ex01),
    // one error case for broken's ex01 and one for cheater's ex02; as many
    // failures as the JSON counts.
    let failed_checks: u64 = card["learners"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["exercises"].as_array().unwrap())
        .filter(|e| e["status"] != "did_not_build" && e["status"] != "refused")
        .map(|e| e["checks_total"].as_u64().unwrap() - e["checks_passed"].as_u64().unwrap())
        .sum();
    assert!(failed_checks >= 2, "both ex02 starters fail some checks");
    let xml = std::fs::read_to_string(&junit_path).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed JUnit XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("106"), "{xml}");
    assert_eq!(root.attribute("errors"), Some("2"), "a build and a refusal");
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
            "apart/ex01",
            "apart/ex02",
            "broken/ex01",
            "broken/ex02",
            "cheater/ex01",
            "cheater/ex02",
            "complete/ex01",
            "complete/ex02",
            "partial/ex01",
            "partial/ex02"
        ]
    );

    // `partial` pushes a fix; grading again with the same --target-dir
    // rebuilds only `partial`, and its ex02 now passes.
    solve(&partial, "ex02-pid", "src/init.rs");
    let (code, table, stderr) = grade(class.path(), target_dir.path(), out_dir.path());
    assert_eq!(code, Some(1), "broken still fails\n{table}\n{stderr}");
    assert_eq!(
        rows(&table)[4],
        ["partial", "passed 9/9", "passed 17/17"],
        "\n{table}\n{stderr}"
    );
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let compiled = |i: usize| {
        card["learners"][i]["build"]["crates_compiled"]
            .as_u64()
            .unwrap()
    };
    assert!(
        compiled(partial_i) > 0,
        "partial was rebuilt: {}",
        card["learners"][partial_i]["build"]
    );
    for i in [apart_i, complete_i] {
        assert_eq!(
            compiled(i),
            0,
            "{} was not changed, so not rebuilt: {}",
            card["learners"][i]["name"],
            card["learners"][i]["build"]
        );
    }
}

/// Bad input: one line naming the cause and the fix, exit 2, before
/// anything is built.
#[test]
fn a_bad_build_user_or_jobs_is_one_line_and_exit_2() {
    if let Err(why) = testkit::run::require_root() {
        panic!("{why}");
    }
    let work = tempfile::tempdir().unwrap();
    for (args, words) in [
        (
            vec!["--build-user", "no-such-user-here"],
            vec!["--build-user no-such-user-here", "no such user", "useradd"],
        ),
        (
            vec!["--build-user", "root"],
            vec!["--build-user root", "uid 0", "unprivileged"],
        ),
        (vec!["--jobs", "0"], vec!["--jobs 0", "leave it out"]),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_grader"))
            .args(&args)
            .arg("--target-dir")
            .arg(work.path())
            .arg(repo())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line: {stderr}");
        for w in words {
            assert!(lines[0].contains(w), "{args:?}: {w:?} in {stderr}");
        }
        assert!(
            std::fs::read_dir(work.path().join("target"))
                .map(|d| d.count() == 0)
                .unwrap_or(true),
            "nothing was built"
        );
    }
}
