//! Matching names and handler URLs against what the user typed: globs, exact
//! values, substrings; each command says in its help which it takes.

use super::errors::CliError;

/// The one rule `list --handler` and `unbind --all --handler` share: with `*`,
/// `?` or `[` the pattern is a glob over the whole URL (`*` spans `/`), otherwise
/// it is the exact URL. (A substring would make `unbind --all --handler
/// https://h.example.com/x` remove `.../x2` too.)
pub(crate) fn handler_matches(pattern: &str, handler: Option<&str>) -> anyhow::Result<bool> {
    let handler = handler.unwrap_or("");
    if pattern.contains(['*', '?', '[']) {
        let glob = glob::Pattern::new(pattern)
            .map_err(|e| CliError::Usage(format!("'{pattern}' is not a valid pattern: {e}")))?;
        Ok(glob.matches(handler))
    } else {
        Ok(handler == pattern)
    }
}

/// How a pattern without wildcards is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlainPattern {
    Substring,
    Exact,
}

/// Case-insensitive match of a name against a glob (`ONCRMDEAL*`), or else a
/// substring or the exact name.
pub(crate) fn name_matches(pattern: &str, name: &str, plain: PlainPattern) -> anyhow::Result<bool> {
    if pattern.contains(['*', '?', '[']) {
        let glob = glob::Pattern::new(&pattern.to_ascii_uppercase())
            .map_err(|e| CliError::Usage(format!("'{pattern}' is not a valid pattern: {e}")))?;
        Ok(glob.matches_with(
            &name.to_ascii_uppercase(),
            glob::MatchOptions {
                case_sensitive: false,
                ..glob::MatchOptions::new()
            },
        ))
    } else if plain == PlainPattern::Exact {
        Ok(name.eq_ignore_ascii_case(pattern))
    } else {
        Ok(name
            .to_ascii_uppercase()
            .contains(&pattern.to_ascii_uppercase()))
    }
}
