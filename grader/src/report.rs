//! The scorecard's three forms: a terminal table, JSON, JUnit XML.

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::{Dependencies, Scorecard, Status};

/// Most characters of a failure in the table (JSON and JUnit keep it whole).
pub const NOTE_WIDTH: usize = 200;

/// A failure as one line of at most `width` characters: line breaks (real,
/// or escaped inside a quoted stderr) become spaces, runs of spaces one,
/// and what does not fit is cut with `…`.
pub fn one_line(text: &str, width: usize) -> String {
    let flat = text.replace("\\n", " ").replace(['\n', '\r', '\t'], " ");
    let words: Vec<&str> = flat.split(' ').filter(|w| !w.is_empty()).collect();
    let line = words.join(" ");
    if line.chars().count() <= width {
        return line;
    }
    let cut: String = line.chars().take(width.saturating_sub(1)).collect();
    format!("{}…", cut.trim_end())
}

/// A check's message without any Rust backtrace in it: the `stack
/// backtrace:` block and the "run with RUST_BACKTRACE" notes go, whether
/// the runtime's stderr is quoted in the message (escaped `\n`) or not.
/// The grader sets `RUST_BACKTRACE=0` for what it runs; this catches a
/// binary that asks for backtraces itself.
pub fn without_backtrace(text: &str) -> String {
    const NOTES: [&str; 2] = [
        "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.",
    ];
    let mut out = text.to_owned();
    for note in NOTES {
        out = out.replace(&format!("\\n{note}"), "");
        out = out.replace(&format!("\n{note}"), "");
        out = out.replace(note, "");
    }
    // Quoted (Debug-formatted) stderr: from `\nstack backtrace:` to the
    // closing quote.
    while let Some(start) = out.find("\\nstack backtrace:") {
        let rest = &out[start..];
        let mut end = rest.len();
        let mut escaped = false;
        for (i, c) in rest.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = i;
                    break;
                }
                _ => escaped = false,
            }
        }
        out.replace_range(start..start + end, "");
    }
    // Real lines: the header and the frames under it.
    let mut kept = Vec::new();
    let mut in_trace = false;
    for line in out.lines() {
        let t = line.trim_start();
        if t.starts_with("stack backtrace:") {
            in_trace = true;
            continue;
        }
        let frame = t
            .split_once(':')
            .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            || t.starts_with("at ");
        if in_trace && frame && line.starts_with(' ') {
            continue;
        }
        in_trace = false;
        kept.push(line);
    }
    kept.join("\n").trim_end().to_owned()
}

/// A table with one row per learner and one column per exercise, then the
/// first failing check of each failed exercise, in words.
pub fn table(card: &Scorecard) -> String {
    let mut exercises: Vec<&str> = Vec::new();
    for learner in &card.learners {
        for ex in &learner.exercises {
            if !exercises.contains(&ex.exercise.as_str()) {
                exercises.push(&ex.exercise);
            }
        }
    }
    let name_width = card
        .learners
        .iter()
        .map(|l| l.name.chars().count())
        .chain([7])
        .max()
        .unwrap_or(7);
    let cell = |learner: &crate::Learner, ex: &str| -> String {
        match learner.exercises.iter().find(|e| e.exercise == *ex) {
            None => "-".to_owned(),
            Some(e) => {
                let mut cell = match e.status {
                    Status::DidNotBuild => "did not build".to_owned(),
                    Status::Refused => "refused".to_owned(),
                    s => format!("{} {}/{}", s.word(), e.checks_passed, e.checks_total),
                };
                if e.hints_used > 0 {
                    let _ = write!(cell, ", hints {}/{}", e.hints_used, e.hints_total);
                }
                cell
            }
        }
    };
    let width = card
        .learners
        .iter()
        .flat_map(|l| exercises.iter().map(|ex| cell(l, ex).chars().count()))
        .chain([15])
        .max()
        .unwrap_or(15);
    let mut out = String::new();
    let _ = write!(out, "{:<name_width$}", "learner");
    for ex in &exercises {
        let _ = write!(out, "  {ex:<width$}");
    }
    out.push('\n');
    for learner in &card.learners {
        let _ = write!(out, "{:<name_width$}", learner.name);
        for ex in &exercises {
            let _ = write!(out, "  {:<width$}", cell(learner, ex));
        }
        out.push('\n');
    }
    let mut notes = String::new();
    for learner in &card.learners {
        if learner.build.dependencies == Dependencies::Apart {
            let _ = writeln!(
                notes,
                "{}: its Cargo.lock ({}) differs from the class's: dependencies built apart",
                learner.name, learner.build.lockfile
            );
        }
        for e in &learner.exercises {
            if let Some(why) = &e.first_failure {
                let _ = writeln!(
                    notes,
                    "{} {}: {}",
                    learner.name,
                    e.exercise,
                    one_line(why, NOTE_WIDTH)
                );
            }
        }
    }
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes);
    }
    out
}

/// The scorecard as pretty JSON (see `grader/scorecard.schema.json`).
pub fn json(card: &Scorecard) -> String {
    serde_json::to_string_pretty(card).expect("a scorecard always serializes")
}

/// JUnit XML: one `<testsuite>` per learner and exercise, one `<testcase>`
/// per check (a `<failure>` with its sentence when it failed); an exercise
/// that did not build is one `build` test case with an `<error>`.
///
/// Written by `quick-junit`, which escapes the text, drops the control
/// characters XML 1.0 cannot carry (a compiler's colour codes) and counts
/// tests, failures and errors per suite and in total.
pub fn junit(card: &Scorecard) -> String {
    let mut report = Report::new("grader");
    for learner in &card.learners {
        for e in &learner.exercises {
            let mut suite = TestSuite::new(format!("{}/{}", learner.name, e.exercise));
            suite.set_time(seconds(e.seconds));
            let class = format!("{}.{}", learner.name, e.exercise);
            if matches!(e.status, Status::DidNotBuild | Status::Refused) {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status
                    .set_message(e.first_failure.as_deref().unwrap_or(e.status.word()))
                    .set_description(e.build_log.as_deref().unwrap_or(""));
                let name = match e.status {
                    Status::Refused => "own_code",
                    _ => "build",
                };
                let mut case = TestCase::new(name, status);
                case.set_classname(class.as_str())
                    .set_time(seconds(e.seconds));
                suite.add_test_case(case);
            } else {
                for c in &e.checks {
                    let status = if c.passed {
                        TestCaseStatus::success()
                    } else {
                        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        if let Some(why) = &c.message {
                            status
                                .set_message(why.as_str())
                                .set_description(why.as_str());
                        }
                        status
                    };
                    let mut case = TestCase::new(c.name.as_str(), status);
                    case.set_classname(class.as_str())
                        .set_time(seconds(c.seconds));
                    suite.add_test_case(case);
                }
            }
            report.add_test_suite(suite);
        }
    }
    report
        .to_string()
        .expect("a report of strings always serializes")
}

/// A duration in seconds as JUnit's `time` (a negative or NaN one as zero).
fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BuildInfo, CheckResult, Exercise, FORMAT_VERSION, Learner};

    fn card() -> Scorecard {
        let check = |name: &str, why: Option<&str>| CheckResult {
            name: name.into(),
            passed: why.is_none(),
            message: why.map(str::to_owned),
            seconds: 0.1,
        };
        Scorecard {
            format_version: FORMAT_VERSION,
            learners: vec![Learner {
                name: "ada".into(),
                path: "/x/ada".into(),
                build: BuildInfo {
                    user: "contain-rs-grader".into(),
                    lockfile: "0123456789abcdef".into(),
                    dependencies: Dependencies::Apart,
                    seconds: 3.0,
                    crates_compiled: 12,
                    crates_reused: 170,
                },
                exercises: vec![
                    Exercise {
                        exercise: "ex01".into(),
                        chapter: 1,
                        status: Status::Failed,
                        checks_passed: 1,
                        checks_total: 2,
                        first_failure: Some(
                            "uts::hostname_inside: hostname was 'vm' & <not> \"box-1\"".into(),
                        ),
                        build_log: None,
                        checks: vec![
                            check("uts::a", None),
                            check("uts::hostname_inside", Some("'vm' & <not> \"box-1\"\u{1b}")),
                        ],
                        seconds: 1.0,
                        hints_used: 0,
                        hints_total: 0,
                    },
                    Exercise {
                        exercise: "ex02".into(),
                        chapter: 2,
                        status: Status::DidNotBuild,
                        checks_passed: 0,
                        checks_total: 0,
                        first_failure: Some("error[E0425]: cannot find value `x`".into()),
                        build_log: Some("error[E0425] ...".into()),
                        checks: vec![],
                        seconds: 2.0,
                        hints_used: 0,
                        hints_total: 0,
                    },
                ],
            }],
        }
    }

    #[test]
    fn junit_parses_and_counts() {
        let xml = junit(&card());
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(root.attribute("tests"), Some("3"));
        assert_eq!(root.attribute("failures"), Some("1"));
        assert_eq!(root.attribute("errors"), Some("1"));
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .expect("a failure element");
        assert_eq!(failure.attribute("message"), Some("'vm' & <not> \"box-1\""));
    }

    #[test]
    fn table_names_the_first_failure() {
        let t = table(&card());
        assert!(t.contains("failed 1/2"), "{t}");
        assert!(t.contains("did not build"), "{t}");
        assert!(t.contains("ada ex01: uts::hostname_inside"), "{t}");
    }

    #[test]
    fn table_says_who_was_built_apart() {
        let t = table(&card());
        assert!(
            t.contains("ada: its Cargo.lock (0123456789abcdef) differs from the class's"),
            "{t}"
        );
    }

    /// What a learner's runtime prints when `todo!()` stops it, quoted by a
    /// check, with a backtrace (a shell with RUST_BACKTRACE=1).
    const QUOTED: &str = "hostname: exit status was 101, expected 0 (stdout: \"\", stderr: \
        \"thread 'main' panicked at exercises/ex01-uts/src/uts.rs:33:5:\\nnot yet implemented: \
        enter a new UTS namespace\\nstack backtrace:\\n   0: rust_begin_unwind\\n             \
        at /rustc/library/std/src/panicking.rs:665:5\\n   1: ex01::main\\nnote: Some details are \
        omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.\")";

    #[test]
    fn backtraces_go_and_the_panic_message_stays() {
        let clean = without_backtrace(QUOTED);
        assert_eq!(
            clean,
            "hostname: exit status was 101, expected 0 (stdout: \"\", stderr: \"thread 'main' \
             panicked at exercises/ex01-uts/src/uts.rs:33:5:\\nnot yet implemented: enter a new \
             UTS namespace\")"
        );
        let real = "the check itself panicked: boom\nstack backtrace:\n   0: std::panicking\n   \
                    1: grader::main\n             at src/main.rs:1:1\nafter";
        assert_eq!(
            without_backtrace(real),
            "the check itself panicked: boom\nafter"
        );
        let plain = "stderr: \"x\\nnote: run with `RUST_BACKTRACE=1` environment variable to \
                     display a backtrace\"";
        assert_eq!(without_backtrace(plain), "stderr: \"x\"");
    }

    #[test]
    fn failures_are_one_line_in_the_table_and_whole_elsewhere() {
        let long = format!("first line\nsecond\\nthird {}", "x".repeat(300));
        let line = one_line(&long, NOTE_WIDTH);
        assert!(!line.contains('\n') && !line.contains("\\n"), "{line}");
        assert!(line.starts_with("first line second third x"), "{line}");
        assert_eq!(line.chars().count(), NOTE_WIDTH);
        assert!(line.ends_with('…'));
        let mut c = card();
        c.learners[0].exercises[0].first_failure = Some(long.clone());
        c.learners[0].exercises[0].checks[1].message = Some(long.clone());
        let t = table(&c);
        let note = t.lines().find(|l| l.starts_with("ada ex01:")).unwrap();
        assert!(note.ends_with('…'), "{t}");
        let back: Scorecard = serde_json::from_str(&json(&c)).unwrap();
        assert_eq!(
            back.learners[0].exercises[0].first_failure.as_deref(),
            Some(long.as_str())
        );
        let xml = junit(&c);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        // The element's text keeps the message whole, line breaks and all;
        // in the `message` attribute a parser reads each line break as a
        // space (XML attribute-value normalization), so it has every word.
        assert_eq!(failure.text(), Some(long.as_str()));
        assert_eq!(
            failure.attribute("message"),
            Some(long.replace('\n', " ").as_str())
        );
    }

    #[test]
    fn json_round_trips() {
        let c = card();
        let back: Scorecard = serde_json::from_str(&json(&c)).unwrap();
        assert_eq!(back, c);
    }
}
