//! Rendering of tables, JSON and NDJSON on stdout; messages on stderr; colour policy.

use std::io::{IsTerminal, Write};

use comfy_table::{presets, ContentArrangement, Table};
use serde::Serialize;

/// How data is printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Human-readable table
    Table,
    /// One JSON document
    Json,
    /// One JSON object per line
    Ndjson,
}

/// When to use colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Where and how a command prints.
#[derive(Debug, Clone)]
pub struct Output {
    pub format: OutputFormat,
    pub color: bool,
    pub stdout_is_terminal: bool,
    pub quiet: bool,
}

impl Output {
    pub fn new(format: OutputFormat, color: ColorChoice, quiet: bool) -> Self {
        let stdout_is_terminal = std::io::stdout().is_terminal();
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                stdout_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        Self {
            format,
            color,
            stdout_is_terminal,
            quiet,
        }
    }

    pub fn is_table(&self) -> bool {
        self.format == OutputFormat::Table
    }

    /// Prints a list: a table, a JSON array, or one JSON object per line.
    pub fn list<T: Serialize>(&self, items: &[T], table: impl FnOnce() -> Table) {
        match self.format {
            OutputFormat::Table => self.print_table(table()),
            OutputFormat::Json => self.print_json(&items),
            OutputFormat::Ndjson => {
                let lines: String = items
                    .iter()
                    .map(|item| serde_json::to_string(item).unwrap_or_default() + "\n")
                    .collect();
                write_stdout(&lines);
            }
        }
    }

    /// Prints one record: a table, or one JSON object (one line in NDJSON).
    pub fn record<T: Serialize>(&self, item: &T, table: impl FnOnce() -> Table) {
        match self.format {
            OutputFormat::Table => self.print_table(table()),
            OutputFormat::Json => self.print_json(item),
            OutputFormat::Ndjson => {
                write_stdout(&(serde_json::to_string(item).unwrap_or_default() + "\n"))
            }
        }
    }

    /// Prints JSON, pretty on a terminal or with `-o json`.
    pub fn print_json<T: Serialize + ?Sized>(&self, value: &T) {
        let text = if self.format == OutputFormat::Ndjson {
            serde_json::to_string(value)
        } else {
            serde_json::to_string_pretty(value)
        };
        write_stdout(&(text.unwrap_or_default() + "\n"));
    }

    /// A table styled for where it is going: boxes and bold headers on a terminal,
    /// plain aligned columns elsewhere.
    pub fn table(&self, headers: &[&str]) -> Table {
        let mut table = Table::new();
        if self.stdout_is_terminal {
            // A terminal that reports no usable width (some CI ptys say 0) would
            // squeeze every column to one character: lay out freely instead.
            let usable_width = table.width().is_some_and(|width| width >= 40);
            table
                .load_preset(presets::UTF8_FULL_CONDENSED)
                .set_content_arrangement(if usable_width {
                    ContentArrangement::Dynamic
                } else {
                    ContentArrangement::Disabled
                });
        } else {
            table
                .load_preset(presets::NOTHING)
                .set_content_arrangement(ContentArrangement::Disabled);
        }
        let header_cells: Vec<comfy_table::Cell> = headers
            .iter()
            .map(|h| {
                let cell = comfy_table::Cell::new(h);
                if self.color {
                    cell.add_attribute(comfy_table::Attribute::Bold)
                } else {
                    cell
                }
            })
            .collect();
        table.set_header(header_cells);
        table
    }

    fn print_table(&self, mut table: Table) {
        if table.row_count() == 0 {
            return;
        }
        if !self.stdout_is_terminal {
            // Plain columns for scripts: flush left, two spaces apart.
            for column in table.column_iter_mut() {
                column.set_padding((0, 2));
            }
        }
        let text = table.to_string();
        let trimmed: String = text
            .lines()
            .map(|l| l.trim_end().to_string() + "\n")
            .collect();
        write_stdout(&trimmed);
    }

    /// An informational line on stderr (hidden by `--quiet`).
    pub fn info(&self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    /// A warning on stderr (hidden by `--quiet`, which keeps only data and errors).
    pub fn warn(&self, message: &str) {
        if !self.quiet {
            self.alert(message);
        }
    }

    /// A warning that `--quiet` does not hide: the portal became unreachable or came
    /// back, a record was lost. Long-running consumers must say so in their logs.
    pub fn alert(&self, message: &str) {
        if self.color && std::io::stderr().is_terminal() {
            eprintln!("\x1b[33mwarning:\x1b[0m {message}");
        } else {
            eprintln!("warning: {message}");
        }
    }

    /// A success line on stderr (hidden by `--quiet`), e.g. "✓ Bound ONCRMDEALADD".
    pub fn success(&self, message: &str) {
        if self.quiet {
            return;
        }
        if self.color && std::io::stderr().is_terminal() {
            eprintln!("\x1b[32m✓\x1b[0m {message}");
        } else {
            eprintln!("{message}");
        }
    }
}

/// Writes text to stdout; a closed pipe (`| head`) is not an error. (SIGPIPE stays
/// ignored: `consume` and `listen` write to their handlers' stdin, and a handler
/// that exits without reading must not kill bx-events.)
pub fn print_text(text: &str) {
    write_stdout(text);
}

/// [`print_text`] with a line break.
pub fn print_line(text: impl std::fmt::Display) {
    write_stdout(&format!("{text}\n"));
}

fn write_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush());
}

/// Text for an optional value in a table cell.
pub fn cell(value: Option<&str>) -> String {
    value.unwrap_or("-").to_string()
}
