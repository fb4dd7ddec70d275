//! The store's password from a password file (libpq's `~/.pgpass` format), so a
//! `--store` URL need not carry it where every user of the machine can read it.
//!
//! The file is `PGPASSFILE`, else `~/.pgpass`; each line is
//! `host:port:database:user:password`, `*` matching anything and `\` escaping `:`
//! and `\`. As libpq does, a file others can read is ignored, and the first
//! matching line wins.

use std::path::{Path, PathBuf};

/// Where the password file is: `PGPASSFILE`, else `~/.pgpass`.
pub(crate) fn location() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PGPASSFILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| Path::new(&home).join(".pgpass"))
}

/// What a line is matched against.
pub(crate) struct Target<'a> {
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    pub(crate) database: &'a str,
    pub(crate) user: &'a str,
}

/// The password for `target` in the file at `path`, if the file is private (0600
/// or stricter) and a line matches; `Err` names why a present file was ignored.
pub(crate) fn lookup(path: &Path, target: &Target<'_>) -> Result<Option<String>, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} is ignored: others can read it (run: chmod 600 '{}')",
                path.display(),
                path.display()
            ));
        }
    }
    Ok(find(&text, target))
}

fn find(text: &str, target: &Target<'_>) -> Option<String> {
    let port = target.port.to_string();
    let wanted = [target.host, port.as_str(), target.database, target.user];
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .map(fields)
        .filter(|fields| fields.len() == 5)
        .find(|fields| {
            fields[..4]
                .iter()
                .zip(wanted)
                .all(|(field, value)| field == "*" || field == value)
        })
        .map(|mut fields| fields.swap_remove(4))
}

/// A line's fields, split at unescaped `:` with `\` escapes removed.
fn fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(field)) = (chars.next(), fields.last_mut()) {
                    field.push(next);
                }
            }
            ':' => fields.push(String::new()),
            c => {
                if let Some(field) = fields.last_mut() {
                    field.push(c);
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: Target<'static> = Target {
        host: "db.example.com",
        port: 5432,
        database: "bx",
        user: "fleet",
    };

    #[test]
    fn the_first_matching_line_wins_with_wildcards_and_escapes() {
        let text = "# comment\nother:5432:bx:fleet:no\ndb.example.com:*:bx:fleet:pa\\:ss\\\\w\n*:*:*:*:fallback\n";
        assert_eq!(find(text, &TARGET).as_deref(), Some("pa:ss\\w"));
        assert_eq!(
            find("*:*:*:*:fallback", &TARGET).as_deref(),
            Some("fallback")
        );
        assert_eq!(find("db.example.com:5433:bx:fleet:x", &TARGET), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(&path, "*:*:*:*:secret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(lookup(&path, &TARGET).unwrap_err().contains("chmod 600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(lookup(&path, &TARGET).unwrap().as_deref(), Some("secret"));
    }
}
