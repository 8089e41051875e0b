//! Progress for the download and the unpacking: indicatif bars on a
//! terminal, a few plain log lines otherwise (CI logs, `2>file`), nothing
//! when quiet.
//!
//! No bar uses a steady tick: a tick is a background thread, and callers of
//! [`crate::fetch`] fork right after it returns. The bars redraw when bytes
//! arrive, which is also when there is something new to show.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How to report progress on stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// Bars when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Always bars.
    Bars,
    /// Always plain lines.
    Plain,
    /// Nothing but errors (which the caller prints).
    Quiet,
}

/// How often a plain-mode progress line is printed during a long phase.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Bars,
    Plain,
    Quiet,
}

/// Resolves [`Progress`] once, and makes bars and lines.
#[derive(Debug)]
pub struct Reporter {
    mode: Mode,
}

impl Reporter {
    pub fn new(progress: Progress) -> Reporter {
        let mode = match progress {
            Progress::Auto if std::io::stderr().is_terminal() => Mode::Bars,
            Progress::Auto | Progress::Plain => Mode::Plain,
            Progress::Bars => Mode::Bars,
            Progress::Quiet => Mode::Quiet,
        };
        Reporter { mode }
    }

    /// One line on stderr (not when quiet).
    pub fn line(&self, msg: impl std::fmt::Display) {
        if self.mode != Mode::Quiet {
            eprintln!("{msg}");
        }
    }

    /// A byte-counting bar: `label`, bytes done of `total`, rate, ETA.
    pub fn bar(&self, label: &str, total: Option<u64>) -> Bar {
        let bar = match self.mode {
            Mode::Bars => {
                let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
                let template = if total.is_some() {
                    "{msg:>11} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}"
                } else {
                    "{msg:>11} {spinner} {bytes} {bytes_per_sec}"
                };
                bar.set_style(
                    ProgressStyle::with_template(template)
                        .expect("a valid template")
                        .progress_chars("=> "),
                );
                bar.set_message(label.to_owned());
                Some(bar)
            }
            Mode::Plain | Mode::Quiet => None,
        };
        Bar {
            bar,
            plain: self.mode == Mode::Plain,
            label: label.to_owned(),
            total,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }
}

/// One phase's progress; [`Bar::finish`] clears it and returns its duration.
#[derive(Debug)]
pub struct Bar {
    bar: Option<ProgressBar>,
    plain: bool,
    label: String,
    total: Option<u64>,
    started: Instant,
    last_line: Instant,
}

impl Bar {
    /// `done` bytes so far.
    pub fn set(&mut self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        } else if self.plain && self.last_line.elapsed() >= PLAIN_EVERY {
            self.last_line = Instant::now();
            match self.total {
                Some(total) if total > 0 => eprintln!(
                    "{}: {} of {} ({}%)",
                    self.label,
                    HumanBytes(done),
                    HumanBytes(total),
                    done * 100 / total
                ),
                _ => eprintln!("{}: {}", self.label, HumanBytes(done)),
            }
        }
    }

    /// Removes the bar from the terminal; how long the phase took.
    pub fn finish(self) -> Duration {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.started.elapsed()
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        // On an error path too: the error line must not land inside a bar.
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// `1.2 s`, `35 ms`.
pub fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}
