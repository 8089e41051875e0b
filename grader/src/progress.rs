//! Progress over the class on stderr: a bar (indicatif) when stderr is a
//! terminal, plain lines when it is not (a CI log, a file), nothing with
//! `--quiet`. The scorecard itself goes to stdout.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A bar on a terminal, lines otherwise.
    Auto,
    /// Plain `grader: ...` lines.
    Lines,
    Quiet,
}

/// Progress over `total` learners; shared by the build threads and the
/// checks.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
    done: AtomicUsize,
    total: usize,
}

impl Progress {
    pub fn new(mode: Mode, total: usize) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = (mode == Mode::Auto && terminal).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} learners graded  {wide_msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            lines: bar.is_none() && mode != Mode::Quiet,
            bar,
            done: AtomicUsize::new(0),
            total,
        }
    }

    /// What is happening now (the bar's message; a line otherwise).
    pub fn status(&self, msg: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
        } else if self.lines {
            eprintln!("grader: {msg}");
        }
    }

    /// A line worth keeping above the bar (a build's figures, a warning).
    pub fn line(&self, msg: String) {
        if let Some(bar) = &self.bar {
            bar.println(format!("grader: {msg}"));
        } else if self.lines {
            eprintln!("grader: {msg}");
        }
    }

    /// One more learner graded, with a one-line summary.
    pub fn learner_done(&self, summary: String) {
        let n = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(bar) = &self.bar {
            bar.println(format!("grader: [{n}/{}] {summary}", self.total));
            bar.inc(1);
        } else if self.lines {
            eprintln!("grader: [{n}/{}] {summary}", self.total);
        }
    }

    pub fn finish(&self, took: Duration) {
        let msg = format!(
            "{} learners graded in {:.0} s",
            self.done.load(Ordering::SeqCst),
            took.as_secs_f64()
        );
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            eprintln!("grader: {msg}");
        } else if self.lines {
            eprintln!("grader: {msg}");
        }
    }
}
