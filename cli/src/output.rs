//! How results reach the user: JSON documents, aligned tables, notes on stderr, progress bars
//! (only when stderr is a terminal), and human durations.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::cli::Global;

/// Where and how a command prints.
#[derive(Debug, Clone)]
pub struct Out {
    /// `--json`: one machine-readable document on stdout.
    pub json: bool,
    /// `-q`: no notes on stderr.
    pub quiet: bool,
    /// `-v`: more notes on stderr.
    pub verbose: bool,
    /// stdout is a terminal (pretty JSON, colours off otherwise).
    pub stdout_tty: bool,
    /// stderr is a terminal (progress bars).
    pub stderr_tty: bool,
}

impl Out {
    /// From the global options and the real terminals.
    pub fn new(g: &Global) -> Self {
        Self {
            json: g.json,
            quiet: g.quiet,
            verbose: g.verbose,
            stdout_tty: std::io::stdout().is_terminal(),
            stderr_tty: std::io::stderr().is_terminal(),
        }
    }

    /// Prints a JSON document on stdout: compact, or pretty when stdout is a terminal and
    /// `--json` was not asked for.
    pub fn value(&self, v: &Value) {
        let text = if self.stdout_tty && !self.json {
            serde_json::to_string_pretty(v)
        } else {
            serde_json::to_string(v)
        }
        .unwrap_or_else(|_| v.to_string());
        self.line(&text);
    }

    /// Prints a compact JSON document on stdout (the `--json` output).
    pub fn json_doc(&self, v: &Value) {
        self.line(&v.to_string());
    }

    /// Prints one line on stdout. When the reader went away (`clamator tail … | head -3`)
    /// there is nobody left to tell: the process ends quietly with exit 0.
    pub fn line(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
            std::process::exit(0);
        }
    }

    /// A note on stderr, unless `-q`.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// A note on stderr with `-v` only.
    pub fn debug(&self, text: &str) {
        if self.verbose {
            eprintln!("{text}");
        }
    }

    /// A progress bar of `len` steps on stderr when it is a terminal (hidden otherwise, and
    /// with `--json` or `-q`).
    pub fn progress(&self, len: u64, what: &str) -> ProgressBar {
        if !self.stderr_tty || self.quiet || self.json {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) =
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed}, eta {eta})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_owned());
        bar
    }

    /// Width of the terminal on stdout (`COLUMNS`, else 120 when not a terminal).
    pub fn width(&self) -> usize {
        if let Some((_, cols)) = console::Term::stdout().size_checked() {
            return usize::from(cols);
        }
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(120)
    }
}

/// An aligned text table: a header row and data rows; numeric-looking cells are right-aligned.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are blank).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines, columns separated by two spaces, trailing blanks trimmed.
    pub fn render(&self) -> String {
        let cols = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        let mut numeric = vec![true; cols];
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(cell.chars().count());
                if !looks_numeric(cell) {
                    numeric[i] = false;
                }
            }
        }
        let mut out = String::new();
        let mut push = |cells: &[String]| {
            let mut line = String::new();
            for i in 0..cols {
                let cell = cells.get(i).map_or("", String::as_str);
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i].saturating_sub(cell.chars().count());
                if numeric[i] {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        };
        push(&self.header);
        for row in &self.rows {
            push(row);
        }
        out.pop();
        out
    }
}

fn looks_numeric(cell: &str) -> bool {
    cell == "-" || (cell.chars().next().is_some_and(|c| c.is_ascii_digit()) && !cell.contains('-'))
}

/// `350ms`, `4.2s`, `3m12s`, `2h5m`, `3d4h`: short and precise enough for an operator.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    let s = d.as_secs();
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{:.1}s", d.as_secs_f64()),
        60_000..=3_599_999 => format!("{}m{:02}s", s / 60, s % 60),
        3_600_000..=86_399_999 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Cuts `text` to `max` characters, ending with `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let keep = max.saturating_sub(1);
    let mut s: String = text.chars().take(keep).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_text_left_and_numbers_right() {
        let mut t = Table::new(&["service", "entries"]);
        t.row(vec!["arith".into(), "7".into()]);
        t.row(vec!["notifications".into(), "12".into()]);
        assert_eq!(
            t.render(),
            "service        entries\narith                7\nnotifications       12"
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(human_duration(Duration::from_millis(4_200)), "4.2s");
        assert_eq!(human_duration(Duration::from_secs(192)), "3m12s");
        assert_eq!(human_duration(Duration::from_secs(7_500)), "2h05m");
    }

    #[test]
    fn cut_marks_the_cut() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
