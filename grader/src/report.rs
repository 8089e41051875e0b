//! The scorecard's three forms: a terminal table, JSON, JUnit XML.

use std::fmt::Write as _;

use crate::{Scorecard, Status};

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
    let mut out = String::new();
    let _ = write!(out, "{:<name_width$}", "learner");
    for ex in &exercises {
        let _ = write!(out, "  {ex:<15}");
    }
    out.push('\n');
    for learner in &card.learners {
        let _ = write!(out, "{:<name_width$}", learner.name);
        for ex in &exercises {
            let cell = match learner.exercises.iter().find(|e| e.exercise == *ex) {
                None => "-".to_owned(),
                Some(e) => match e.status {
                    Status::DidNotBuild => "did not build".to_owned(),
                    s => format!("{} {}/{}", s.word(), e.checks_passed, e.checks_total),
                },
            };
            let _ = write!(out, "  {cell:<15}");
        }
        out.push('\n');
    }
    let mut notes = String::new();
    for learner in &card.learners {
        for e in &learner.exercises {
            if let Some(why) = &e.first_failure {
                let _ = writeln!(notes, "{} {}: {why}", learner.name, e.exercise);
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
pub fn junit(card: &Scorecard) -> String {
    let mut suites = String::new();
    let (mut all_tests, mut all_failures, mut all_errors) = (0, 0, 0);
    for learner in &card.learners {
        for e in &learner.exercises {
            let suite = format!("{}/{}", learner.name, e.exercise);
            let class = format!("{}.{}", learner.name, e.exercise);
            let mut cases = String::new();
            let (tests, failures, errors);
            if e.status == Status::DidNotBuild {
                let why = e.first_failure.as_deref().unwrap_or("did not build");
                let _ = writeln!(
                    cases,
                    "    <testcase classname=\"{}\" name=\"build\" time=\"{:.3}\">\n      \
                     <error message=\"{}\">{}</error>\n    </testcase>",
                    esc(&class),
                    e.seconds,
                    esc(why),
                    esc(e.build_log.as_deref().unwrap_or(""))
                );
                (tests, failures, errors) = (1, 0, 1);
            } else {
                for c in &e.checks {
                    let _ = write!(
                        cases,
                        "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                        esc(&class),
                        esc(&c.name),
                        c.seconds
                    );
                    match &c.message {
                        Some(why) if !c.passed => {
                            let _ = writeln!(
                                cases,
                                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                                esc(why),
                                esc(why)
                            );
                        }
                        _ => cases.push_str("/>\n"),
                    }
                }
                tests = e.checks.len();
                failures = e.checks.iter().filter(|c| !c.passed).count();
                errors = 0;
            }
            all_tests += tests;
            all_failures += failures;
            all_errors += errors;
            let _ = write!(
                suites,
                "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" \
                 errors=\"{errors}\" time=\"{:.3}\">\n{cases}  </testsuite>\n",
                esc(&suite),
                e.seconds
            );
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"grader\" \
         tests=\"{all_tests}\" failures=\"{all_failures}\" errors=\"{all_errors}\">\n\
         {suites}</testsuites>\n"
    )
}

/// XML-escapes text for an attribute or element; drops the control
/// characters XML 1.0 cannot carry (a compiler's colour codes).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CheckResult, Exercise, FORMAT_VERSION, Learner};

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
    fn json_round_trips() {
        let c = card();
        let back: Scorecard = serde_json::from_str(&json(&c)).unwrap();
        assert_eq!(back, c);
    }
}
