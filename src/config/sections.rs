//! Finding one profile's table in `config.toml` or `credentials.toml` without
//! parsing every other profile: a single scan for `[profiles.NAME]` headers.
//!
//! A fleet's files hold thousands of profiles, and a command that uses one of
//! them (or a fleet that builds one client per portal) parsed both files whole,
//! which made a 10,000-profile store cost 20 times an empty one per command.
//! The index only answers for files laid out as bx-events writes them; for any
//! other layout (a hand edit with dotted keys, a `[profiles]` table, inline
//! tables, multi-line strings, a repeated header) it declines, and the caller
//! parses the whole file as before, so no layout TOML allows is misread.

use std::collections::HashMap;
use std::ops::Range;

/// Where each profile's table lies in a file's text.
#[derive(Debug, Clone)]
pub(crate) struct ProfileIndex {
    /// Each profile's key/value lines, between its header and the next one.
    tables: HashMap<String, Range<usize>>,
}

impl ProfileIndex {
    /// Indexes `text`, or `None` when it is not laid out one `[profiles.NAME]`
    /// table per profile (the caller then parses it whole).
    pub(crate) fn build(text: &str) -> Option<Self> {
        // About 300 bytes a profile: sized once, never rehashed.
        let mut tables = HashMap::with_capacity(text.len() / 256 + 1);
        scan(text, |name, table| {
            tables.insert(name.to_string(), table).is_none()
        })?;
        Some(Self { tables })
    }

    /// Where the key/value lines of `name`'s table lie in the text, or `None`
    /// when the file has no such profile.
    pub(crate) fn table(&self, name: &str) -> Option<Range<usize>> {
        self.tables.get(name).cloned()
    }
}

/// The top-level lines of `text`, before its first table, as [`find_table`]
/// and [`ProfileIndex`] see them.
pub(crate) fn prefix(text: &str) -> &str {
    let end = header_lines(text)
        .next()
        .map_or(text.len(), |line| line.start);
    &text[..end]
}

/// Where `name`'s table lies in `text`, checking the whole file's layout as
/// [`ProfileIndex::build`] does but keeping nothing else: what a command that
/// uses one profile needs. `None` when the layout is not ours, or the file
/// has no such profile.
pub(crate) fn find_table(text: &str, name: &str) -> Option<Range<usize>> {
    let mut found = None;
    scan(text, |header, table| {
        // A repeated header is a damaged file: the whole parse reports it.
        header != name || found.replace(table).is_none()
    })?;
    found
}

/// Each line's byte range, its `\n` included; found with SIMD.
fn lines(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let ends = memchr::memchr_iter(b'\n', text.as_bytes())
        .map(|at| at + 1)
        .chain(std::iter::once(text.len()));
    let mut start = 0;
    ends.map_while(move |end| {
        (end > start).then(|| {
            let line = start..end;
            start = end;
            line
        })
    })
}

/// The lines that open a table, each from its start to the end of its line:
/// every `[` that only spaces or tabs separate from the start of its line.
/// A 10,000-profile file has 200,000 lines but 10,000 such brackets, so this
/// looks at the brackets (found with SIMD), not at every line.
fn header_lines(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'[', bytes).filter_map(move |bracket| {
        let indent = bytes[..bracket]
            .iter()
            .rev()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        let start = bracket - indent;
        if start > 0 && bytes[start - 1] != b'\n' {
            return None;
        }
        let end =
            memchr::memchr(b'\n', &bytes[bracket..]).map_or(text.len(), |at| bracket + at + 1);
        Some(start..end)
    })
}

/// One pass over `text`: calls `visit(name, table)` for each profile's table
/// in file order (a `false` answer declines the file), and returns the range
/// of the lines before the first table; `None` when the layout is not one
/// `[profiles.NAME]` table per profile.
fn scan<'t>(
    text: &'t str,
    mut visit: impl FnMut(&'t str, Range<usize>) -> bool,
) -> Option<Range<usize>> {
    // A multi-line string may hold a line that looks like a header.
    if ["\"\"\"", "'''"]
        .iter()
        .any(|quotes| memchr::memmem::find(text.as_bytes(), quotes.as_bytes()).is_some())
    {
        return None;
    }
    let mut headers = header_lines(text);
    let first = headers.next();
    let prefix = 0..first.as_ref().map_or(text.len(), |line| line.start);
    // Before the first table, a key that is or may be `profiles` (bare,
    // quoted, dotted) could define profiles the headers do not show.
    let suspicious = lines(&text[prefix.clone()]).any(|line| {
        let line_start = text[line].trim_start_matches([' ', '\t']);
        ["profiles", "\"", "'"]
            .iter()
            .any(|k| line_start.starts_with(k))
    });
    if suspicious {
        return None;
    }
    let Some(first) = first else {
        return Some(prefix);
    };
    let mut open = (
        header_name(text[first.clone()].trim_start_matches([' ', '\t']))?,
        first.end,
    );
    for line in headers {
        let name = header_name(text[line.clone()].trim_start_matches([' ', '\t']))?;
        let (previous, start) = std::mem::replace(&mut open, (name, line.end));
        if !visit(previous, start..line.start) {
            return None;
        }
    }
    let (last, start) = open;
    if !visit(last, start..text.len()) {
        return None;
    }
    Some(prefix)
}

/// The profile a header line opens, when it is written `[profiles.NAME]` or
/// `[profiles."NAME"]` (no escapes) and nothing but a comment follows it.
fn header_name(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("[profiles.")?;
    let end = rest.find(']')?;
    let (key, after) = (&rest[..end], &rest[end + 1..]);
    let after = after.trim_start_matches([' ', '\t', '\r', '\n']);
    if !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    let bare = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !key.is_empty() && key.chars().all(bare) {
        return Some(key);
    }
    let quoted = key.strip_prefix('"')?.strip_suffix('"')?;
    let plain = |c: char| c != '"' && c != '\\' && !c.is_control();
    quoted.chars().all(plain).then_some(quoted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitrix::Secret;
    use crate::config::model::{CredentialsFile, Secrets};

    /// What the index finds for each profile, parsed, or `None` when it declines.
    fn through_index(text: &str) -> Option<Vec<(String, Secrets)>> {
        let index = ProfileIndex::build(text)?;
        let full: CredentialsFile = toml::from_str(text).unwrap();
        Some(
            full.profiles
                .keys()
                .map(|name| {
                    let table = index.table(name).expect("every profile indexed");
                    (name.clone(), toml::from_str(&text[table]).unwrap())
                })
                .collect(),
        )
    }

    fn secrets(token: &str) -> Secrets {
        Secrets {
            access_token: Some(Secret::new(token.to_string())),
            refresh_token: Some(Secret::new(format!("{token}-r"))),
            expires_at: Some(1_800_000_000),
            ..Secrets::default()
        }
    }

    #[test]
    fn what_bx_events_writes_is_indexed_and_reads_as_the_whole_file_does() {
        let mut file = CredentialsFile::default();
        // Values that look like headers, quotes and keys, and names that need quoting.
        for (name, token) in [
            ("p1", "plain"),
            ("p-2_x", "[profiles.p1]"),
            ("with space", "a\"b]c = [d]"),
            ("ünïcode", "#not a comment"),
            ("p10", "\\[profiles.p10]\\"),
        ] {
            file.profiles.insert(name.to_string(), secrets(token));
        }
        let text = toml::to_string_pretty(&file).unwrap();
        let found = through_index(&text).expect("a file bx-events wrote is indexed");
        let expected: Vec<_> = file.profiles.into_iter().collect();
        assert_eq!(found, expected);
        let index = ProfileIndex::build(&text).unwrap();
        assert_eq!(index.table("p3"), None);
        for name in ["p1", "with space", "ünïcode"] {
            assert_eq!(find_table(&text, name), index.table(name));
        }
    }

    #[test]
    fn a_secret_written_as_a_multi_line_string_makes_the_file_parse_whole() {
        // A line break, or both kinds of quote, make the writer use `"""`/`'''`.
        for secret in ["x\n[profiles.b]\naccess_token = 'stolen'", "both \" and '"] {
            let mut file = CredentialsFile::default();
            file.profiles.insert("a".into(), secrets(secret));
            let text = toml::to_string_pretty(&file).unwrap();
            assert!(ProfileIndex::build(&text).is_none(), "{text}");
        }
    }

    #[test]
    fn layouts_bx_events_does_not_write_are_declined_not_misread() {
        for text in [
            // A profile defined (also) by dotted keys, a [profiles] table, an
            // inline table, a sub-table header, an array of tables.
            "profiles.a.access_token = 'x'\n[profiles.b]\naccess_token = 'y'\n",
            "[profiles]\na.access_token = 'x'\n",
            "\"profiles\".a.access_token = 'x'\n[profiles.b]\n",
            "current = 'b'\nprofiles = { a = { access_token = 'x' } }\n[profiles.b]\n",
            "[profiles.b]\naccess_token = 'y'\n[other]\nprofiles = { a = { access_token = 'x' } }\n",
            "[profiles.a]\naccess_token = 'x'\n[profiles.a.extra]\nk = 1\n",
            "[[profiles]]\nk = 1\n",
            // The same profile twice, once quoted.
            "[profiles.a]\naccess_token = 'x'\n[profiles.\"a\"]\naccess_token = 'y'\n",
            "[profiles.a]\naccess_token = 'x'\n[profiles.a]\naccess_token = 'y'\n",
            // Escapes in a quoted name, something after a header.
            "[profiles.\"a\\u0062\"]\naccess_token = 'x'\n",
            "[profiles.a] k = 1\n",
            " [ profiles . a ]\naccess_token = 'x'\n",
        ] {
            assert!(ProfileIndex::build(text).is_none(), "indexed: {text}");
        }
    }

    #[test]
    fn comments_indentation_and_crlf_keep_the_index() {
        let text = "# mine\r\ncurrent = \"b\"\r\n\r\n  [profiles.a] # first\r\naccess_token = 'x'\r\n\t[profiles.\"b c\"]\r\naccess_token = 'y'\r\n";
        assert_eq!(prefix(text), "# mine\r\ncurrent = \"b\"\r\n\r\n");
        let index = ProfileIndex::build(text).unwrap();
        let table = index.table("b c").unwrap();
        assert_eq!(&text[table.clone()], "access_token = 'y'\r\n");
        assert_eq!(find_table(text, "b c"), Some(table));
        let read: Secrets = toml::from_str(&text[index.table("a").unwrap()]).unwrap();
        assert_eq!(read.access_token.unwrap().expose(), "x");
        assert_eq!(find_table(text, "c"), None);
    }

    #[test]
    fn finding_one_table_declines_what_the_index_declines() {
        let repeated = "[profiles.a]\nk = 1\n[profiles.b]\n[profiles.a]\nk = 2\n";
        assert_eq!(find_table(repeated, "a"), None);
        assert!(ProfileIndex::build(repeated).is_none());
        // Another profile's layout problem declines the file for every name.
        let dotted = "[profiles.a]\nk = 1\n[profiles.b.sub]\n";
        assert_eq!(find_table(dotted, "a"), None);
        assert_eq!(
            find_table("[profiles.a]\nk = 1\n[profiles.b]\n", "a"),
            Some(13..19)
        );
    }
}
