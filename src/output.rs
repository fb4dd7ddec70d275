//! The printer: tables, JSON and NDJSON on stdout; `error:`, `warning:`, `hint:` and
//! progress messages on stderr; the colour policy (docs/style.md).

use std::borrow::Cow;
use std::io::{IsTerminal, Write};

use comfy_table::{presets, ContentArrangement, Table};
use serde::Serialize;

/// What a failure looks like to the user: `error:` and `hint:` lines, or
/// `{"error":{...}}` with `-o json` (docs/exit-codes.md lists the codes).
#[derive(Debug, Clone, Serialize)]
pub struct ErrorReport {
    pub code: String,
    pub message: String,
    pub http_status: Option<u16>,
    pub hint: Option<String>,
}

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

/// The styles of the message kinds (docs/style.md).
pub(crate) mod style {
    use anstyle::{AnsiColor, Style};

    pub(crate) const ERROR: Style = AnsiColor::Red.on_default().bold();
    pub(crate) const WARNING: Style = AnsiColor::Yellow.on_default().bold();
    pub(crate) const HINT: Style = AnsiColor::Cyan.on_default().bold();
    pub(crate) const SUCCESS: Style = AnsiColor::Green.on_default();
    pub(crate) const ADDED: Style = AnsiColor::Green.on_default();
    pub(crate) const REMOVED: Style = AnsiColor::Red.on_default();
    pub(crate) const UNCHANGED: Style = Style::new().dimmed();
}

/// Where and how a command prints: data on stdout in the chosen format, messages
/// on stderr. Every user-facing line goes through here (docs/style.md).
#[derive(Debug, Clone)]
pub struct Output {
    pub(crate) format: OutputFormat,
    pub(crate) quiet: bool,
    stdout_is_terminal: bool,
    /// Styles on stdout (tables, plans): `--color`, then CLICOLOR_FORCE, NO_COLOR
    /// and whether stdout is a terminal.
    stdout_color: bool,
}

impl Output {
    pub fn new(format: OutputFormat, color: ColorChoice, quiet: bool) -> Self {
        // anstream applies the same policy to every stream it writes: styles are
        // kept or stripped per stream, so `--color always` works through a pipe.
        match color {
            ColorChoice::Always => anstream::ColorChoice::Always,
            ColorChoice::Never => anstream::ColorChoice::Never,
            ColorChoice::Auto => anstream::ColorChoice::Auto,
        }
        .write_global();
        let stdout_color =
            anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never;
        Self {
            format,
            quiet,
            stdout_is_terminal: std::io::stdout().is_terminal(),
            stdout_color,
        }
    }

    pub fn is_table(&self) -> bool {
        self.format == OutputFormat::Table
    }

    /// Prints a list: a table, a JSON array, or one JSON object per line.
    pub(crate) fn list<T: Serialize>(&self, items: &[T], table: impl FnOnce() -> TextTable) {
        match self.format {
            OutputFormat::Table => self.print_table(table()),
            OutputFormat::Json => self.print_json(&items),
            OutputFormat::Ndjson => {
                // One line at a time: a long list is never held as text whole.
                if stdout_failed() {
                    return;
                }
                let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
                let written = items
                    .iter()
                    .try_for_each(|item| {
                        let line = serde_json::to_string(item).unwrap_or_default();
                        writeln!(stdout, "{line}")
                    })
                    .and_then(|()| stdout.flush());
                let _ = noted(written);
            }
        }
    }

    /// Prints one record: a table, or one JSON object (one line in NDJSON).
    pub(crate) fn record<T: Serialize>(&self, item: &T, table: impl FnOnce() -> TextTable) {
        match self.format {
            OutputFormat::Table => self.print_table(table()),
            _ => self.machine(item),
        }
    }

    /// Prints a value for machines only: with `-o json` or `-o ndjson`; with the
    /// table format the command's messages already said it.
    pub(crate) fn machine<T: Serialize + ?Sized>(&self, item: &T) {
        match self.format {
            OutputFormat::Table => {}
            OutputFormat::Json => self.print_json(item),
            OutputFormat::Ndjson => {
                let _ = write_stdout(&(serde_json::to_string(item).unwrap_or_default() + "\n"));
            }
        }
    }

    /// Prints a list for machines only (see [`Output::machine`]).
    pub(crate) fn machine_list<T: Serialize>(&self, items: &[T]) {
        if !self.is_table() {
            self.list(items, || TextTable::new(&[]));
        }
    }

    /// Prints JSON, pretty with `-o json`, one line with `-o ndjson`.
    pub(crate) fn print_json<T: Serialize + ?Sized>(&self, value: &T) {
        let text = if self.format == OutputFormat::Ndjson {
            serde_json::to_string(value)
        } else {
            serde_json::to_string_pretty(value)
        };
        let _ = write_stdout(&(text.unwrap_or_default() + "\n"));
    }

    /// Text for stdout in a style, when stdout shows styles.
    pub(crate) fn paint(&self, style: anstyle::Style, text: &str) -> String {
        if self.stdout_color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    /// A table for this output (see [`TextTable`]).
    pub(crate) fn table(&self, headers: &[&str]) -> TextTable {
        TextTable::new(headers)
    }

    /// Whether a table is drawn with boxes: only on a terminal, only as long as a
    /// reader can take it in, and only when it fits the terminal's width. A table
    /// squeezed into the width would split words and URLs across lines (copying
    /// a handler URL then breaks); plain columns are soft-wrapped by the terminal
    /// instead, and copy whole.
    fn boxed(&self, table: &TextTable) -> bool {
        if !self.stdout_is_terminal || table.rows.len() > BOXED_ROWS {
            return false;
        }
        match Table::new().width() {
            Some(width) if width >= 40 => table.boxed_width() <= usize::from(width),
            // A terminal that reports no usable width: lay out freely.
            _ => true,
        }
    }

    pub(crate) fn print_table(&self, table: TextTable) {
        if table.rows.is_empty() {
            return;
        }
        if self.boxed(&table) {
            let _ = write_stdout(&render_table(&self.comfy(&table)));
            return;
        }
        if stdout_failed() {
            return;
        }
        let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
        let written = table
            .write_plain(&mut stdout, self.stdout_color)
            .and_then(|()| stdout.flush());
        let _ = noted(written);
    }

    /// A table on stderr, beside a question (what `unbind` is about to remove);
    /// shown with `--quiet` too, since the question depends on it.
    pub(crate) fn table_to_stderr(&self, table: &TextTable) {
        if self.boxed(table) {
            anstream::eprint!("{}", render_table(&self.comfy(table)));
        } else {
            let mut text = Vec::new();
            let _ = table.write_plain(&mut text, self.stdout_color);
            anstream::eprint!("{}", String::from_utf8_lossy(&text));
        }
    }

    /// The table drawn by comfy-table for a terminal: boxes, bold headers.
    fn comfy(&self, text: &TextTable) -> Table {
        let mut table = Table::new();
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
        if self.stdout_color {
            table.enforce_styling();
        }
        let header_cells: Vec<comfy_table::Cell> = text
            .headers
            .iter()
            .map(|h| {
                let cell = comfy_table::Cell::new(h);
                if self.stdout_color {
                    cell.add_attribute(comfy_table::Attribute::Bold)
                } else {
                    cell
                }
            })
            .collect();
        table.set_header(header_cells);
        for row in &text.rows {
            table.add_row(row.iter());
        }
        table
    }

    /// Instructions the user must act on (open this address): on stderr, shown
    /// with `--quiet` too.
    pub(crate) fn notice(&self, message: &str) {
        anstream::eprintln!("{}", printable(message));
    }

    /// An informational line on stderr (hidden by `--quiet`).
    pub(crate) fn info(&self, message: &str) {
        if !self.quiet {
            self.info_lines(&format!("{}\n", printable(message)));
        }
    }

    /// Lines for stderr (each already ending in a newline and made printable)
    /// in one `write`: a consumer's log of a whole reservation costs one system
    /// call, not two per record. Hidden by `--quiet`.
    pub(crate) fn info_lines(&self, lines: &str) {
        use std::io::Write;
        if !self.quiet && !lines.is_empty() {
            // Nowhere to report a failure to write stderr.
            let _ = anstream::stderr().lock().write_all(lines.as_bytes());
        }
    }

    /// A warning on stderr (hidden by `--quiet`, which keeps only data and errors).
    pub(crate) fn warn(&self, message: &str) {
        if !self.quiet {
            self.alert(message);
        }
    }

    /// A warning that `--quiet` does not hide: the portal became unreachable or came
    /// back, a record was lost. Long-running consumers must say so in their logs.
    pub(crate) fn alert(&self, message: &str) {
        let warning = style::WARNING;
        anstream::eprintln!("{warning}warning:{warning:#} {}", printable(message));
    }

    /// A success line on stderr (hidden by `--quiet`), e.g. "✓ Bound ONCRMDEALADD";
    /// the check mark only where styles show, so logs read as plain sentences.
    pub(crate) fn success(&self, message: &str) {
        if self.quiet {
            return;
        }
        let message = printable(message);
        if anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never {
            let success = style::SUCCESS;
            anstream::eprintln!("{success}✓{success:#} {message}");
        } else {
            anstream::eprintln!("{message}");
        }
    }

    /// A failure as users see it: `error:` and `hint:` lines, or one
    /// `{"error":{...}}` line with `-o json`/`ndjson`. Never hidden by `--quiet`.
    pub fn failure(&self, report: &ErrorReport) {
        if self.format != OutputFormat::Table {
            anstream::eprintln!("{}", serde_json::json!({"error": report}));
            return;
        }
        let error = style::ERROR;
        anstream::eprintln!("{error}error:{error:#} {}", printable(&report.message));
        if let Some(text) = &report.hint {
            let hint = style::HINT;
            anstream::eprintln!("{hint}hint:{hint:#} {}", printable(text));
        }
    }
}

/// Writes text to stdout; a closed pipe (`| head`) is not an error. (SIGPIPE stays
/// ignored: `consume` and `listen` write to their handlers' stdin, and a handler
/// that exits without reading must not kill bx-events.)
pub(crate) fn print_text(text: &str) {
    let _ = write_stdout(text);
}

/// [`print_text`] with a line break.
pub(crate) fn print_line(text: impl std::fmt::Display) {
    let _ = try_print_line(text);
}

/// [`print_line`], saying whether stdout took the line: a stream (`listen`)
/// must notice when its reader has gone.
pub(crate) fn try_print_line(text: impl std::fmt::Display) -> std::io::Result<()> {
    write_stdout(&format!("{text}\n"))
}

fn write_stdout(text: &str) -> std::io::Result<()> {
    if stdout_failed() {
        return Err(std::io::Error::other("stdout failed earlier"));
    }
    let mut stdout = std::io::stdout().lock();
    noted(
        stdout
            .write_all(text.as_bytes())
            .and_then(|_| stdout.flush()),
    )
}

/// The first error writing stdout other than a closed pipe (a full disk, an I/O
/// error): the data did not arrive, so the command must not report success.
static STDOUT_ERROR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Keeps the first real write error; a closed pipe (`| head`) is a reader that
/// has all it wants, not a failure.
fn noted(result: std::io::Result<()>) -> std::io::Result<()> {
    if let Err(error) = &result {
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            STDOUT_ERROR.get_or_init(|| error.to_string());
        }
    }
    result
}

fn stdout_failed() -> bool {
    STDOUT_ERROR.get().is_some()
}

/// Why writing stdout failed, if it did (not counting a closed pipe): the
/// caller turns a command that otherwise succeeded into a failure.
pub fn stdout_write_error() -> Option<&'static str> {
    STDOUT_ERROR.get().map(String::as_str)
}

/// One field of a one-line record (an event name, a domain) with every control
/// character escaped, line breaks included: a field must not start a line of
/// its own and forge a record.
pub(crate) fn printable_field(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// Human text with control characters made visible: portal strings (error texts,
/// event names, handler URLs, record data) must not move the cursor, clear the
/// screen or forge lines. Line breaks and tabs stay; ESC, CR, BEL, DEL and the C1
/// controls are shown escaped (`\u{1b}`, `\r`). JSON output is never passed here.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// Most rows a terminal table is drawn with boxes; a longer one is written as
/// plain columns, which costs its cells and not several renderings of them.
const BOXED_ROWS: usize = 1_000;

/// Rows of text under headers. On a terminal a table of up to [`BOXED_ROWS`] rows
/// is drawn by comfy-table (boxes, bold headers, fitted to the width); anything
/// else (a pipe, a file, a listing of 300,000 handlers) is written as plain
/// columns, flush left and two spaces apart, one line at a time.
#[derive(Debug, Default)]
pub(crate) struct TextTable {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl TextTable {
    pub(crate) fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn add_row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The width the boxed table needs without wrapping: each column's widest
    /// line, one space of padding on each side, and a border between and around.
    fn boxed_width(&self) -> usize {
        self.column_widths().iter().map(|w| w + 3).sum::<usize>() + 1
    }

    /// Each column's widest line, as shown (control characters escaped).
    fn column_widths(&self) -> Vec<usize> {
        use unicode_width::UnicodeWidthStr;
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.headers.len()])
            .max()
            .unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            for (column, cell) in row.iter().enumerate() {
                for line in printable(cell).split('\n') {
                    widths[column] = widths[column].max(line.width());
                }
            }
        }
        widths
    }

    /// Plain columns: each cell's control characters escaped ([`printable`]), a
    /// cell of several lines taking as many lines, trailing spaces trimmed, and
    /// the headers bold when `bold`.
    fn write_plain(&self, out: &mut impl Write, bold: bool) -> std::io::Result<()> {
        let widths = self.column_widths();
        if !self.headers.is_empty() {
            write_plain_row(out, &self.headers, &widths, bold)?;
        }
        for row in &self.rows {
            write_plain_row(out, row, &widths, false)?;
        }
        Ok(())
    }
}

/// One row of plain columns (several lines when a cell has several).
fn write_plain_row(
    out: &mut impl Write,
    row: &[String],
    widths: &[usize],
    bold: bool,
) -> std::io::Result<()> {
    use unicode_width::UnicodeWidthStr;
    let cells: Vec<Vec<String>> = row
        .iter()
        .map(|cell| printable(cell).split('\n').map(str::to_string).collect())
        .collect();
    let height = cells.iter().map(Vec::len).max().unwrap_or(1);
    let mut line = String::new();
    for at in 0..height {
        line.clear();
        for (column, width) in widths.iter().enumerate() {
            let text = cells
                .get(column)
                .and_then(|lines| lines.get(at))
                .map_or("", String::as_str);
            if bold && !text.is_empty() {
                line.push_str(TABLE_STYLES[0]);
                line.push_str(text);
                line.push_str(TABLE_STYLES[1]);
            } else {
                line.push_str(text);
            }
            line.extend(std::iter::repeat_n(' ', width - text.width() + 2));
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The bold on and off sequences comfy-table writes for styled headers: the only
/// escapes a rendered table may keep (they can only change the weight of text).
const TABLE_STYLES: [&str; 2] = ["\x1b[1m", "\x1b[0m"];

/// A table as text, trailing spaces trimmed and every cell's control characters
/// escaped (see [`printable`]).
pub(crate) fn render_table(table: &Table) -> String {
    let text = table.to_string();
    let mut rendered = String::with_capacity(text.len());
    for line in text.lines() {
        let mut rest = line.trim_end();
        while !rest.is_empty() {
            if let Some(style) = TABLE_STYLES.iter().find(|s| rest.starts_with(**s)) {
                rendered.push_str(style);
                rest = &rest[style.len()..];
                continue;
            }
            let next = rest
                .char_indices()
                .skip(1)
                .find(|(at, c)| {
                    *c == '\x1b' && TABLE_STYLES.iter().any(|s| rest[*at..].starts_with(s))
                })
                .map_or(rest.len(), |(at, _)| at);
            rendered.push_str(&printable(&rest[..next]));
            rest = &rest[next..];
        }
        rendered.push('\n');
    }
    rendered
}

/// Text for an optional value in a table cell.
pub(crate) fn cell(value: Option<&str>) -> String {
    value.unwrap_or("-").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_escaped_but_lines_and_tabs_stay() {
        assert_eq!(printable("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(
            printable("a\x1b[2Jb\rc\x07\u{9b}"),
            "a\\u{1b}[2Jb\\rc\\u{7}\\u{9b}"
        );
    }

    #[test]
    fn plain_tables_align_columns_by_display_width_and_escape_cells() {
        let mut table = TextTable::new(&["EVENT", "HANDLER"]);
        table.add_row(["ONCRMDEALADD", "https://h.example.com/x\x1b[2J"]);
        table.add_row(["ÜBER", "two\nlines"]);
        let mut text = Vec::new();
        table.write_plain(&mut text, false).unwrap();
        let lines = [
            "EVENT         HANDLER",
            "ONCRMDEALADD  https://h.example.com/x\\u{1b}[2J",
            "ÜBER          two",
            "              lines",
        ];
        assert_eq!(String::from_utf8(text).unwrap(), lines.join("\n") + "\n");
    }

    #[test]
    fn tables_keep_their_bold_headers_and_escape_cells() {
        let mut table = Table::new();
        table.set_header(vec![
            comfy_table::Cell::new("H").add_attribute(comfy_table::Attribute::Bold)
        ]);
        table.add_row(vec!["x\x1b[2J"]);
        table.force_no_tty().enforce_styling();
        let text = render_table(&table);
        assert!(text.contains("\x1b[1m"), "{text:?}");
        assert!(
            text.contains("x\\u{1b}[2J") && !text.contains("\x1b[2J"),
            "{text:?}"
        );
    }
}
