//! A progress bar on stderr for long CLI jobs (backfills, simulations, training).
//!
//! On a terminal the bar is redrawn in place; otherwise (CI logs, pipes) a plain line is
//! printed at every tenth of the way, so logs stay short.

use std::io::{IsTerminal, Write};
use std::time::Instant;

const WIDTH: usize = 30;

#[derive(Debug)]
pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    started: Instant,
    terminal: bool,
    /// The last tenth printed when not on a terminal.
    last_tenth: u64,
}

impl Progress {
    /// A bar for `total` units of work, drawn at 0%.
    pub fn new(label: &str, total: u64) -> Progress {
        let progress = Progress {
            label: label.to_owned(),
            total: total.max(1),
            done: 0,
            started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            last_tenth: 0,
        };
        progress.draw("");
        progress
    }

    /// Records that `done` units are finished; `detail` is shown after the bar.
    pub fn set(&mut self, done: u64, detail: &str) {
        self.done = done.min(self.total);
        let tenth = self.done * 10 / self.total;
        if self.terminal || tenth > self.last_tenth {
            self.last_tenth = tenth;
            self.draw(detail);
        }
    }

    /// Ends the bar with a summary line.
    pub fn finish(self, summary: &str) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(err, "{}: {summary} in {elapsed:.1} s", self.label);
    }

    fn draw(&self, detail: &str) {
        let filled = (self.done as usize * WIDTH) / self.total as usize;
        let percent = self.done * 100 / self.total;
        let bar = format!(
            "{} [{}{}] {percent:>3}% {detail}",
            self.label,
            "#".repeat(filled),
            ".".repeat(WIDTH - filled)
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(err, "\r\x1b[2K{bar}")
        } else {
            writeln!(err, "{bar}")
        };
        let _ = err.flush();
    }
}
