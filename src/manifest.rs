//! The subscriptions manifest (`bx-events.toml`): parsing, `${VAR}` expansion,
//! validation with file:line:column errors, and export.

use std::collections::HashMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::bitrix::events::{BindRequest, Binding, BindingKind};
use crate::bitrix::validate::{check_event_name, check_handler_url};

/// The default manifest file name.
pub(crate) const DEFAULT_FILE: &str = "bx-events.toml";

/// A manifest problem, located in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ManifestError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// One desired subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub request: BindRequest,
    /// 1-based line of the `[[subscription]]` entry, for messages.
    pub line: usize,
}

impl Subscription {
    /// The binding as `event.get` will list it: the identity used by diff and apply.
    pub fn binding(&self) -> Binding {
        self.request.expected_binding()
    }
}

/// A parsed and validated manifest.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    pub subscriptions: Vec<Subscription>,
    /// Non-fatal remarks (e.g. handlers a cloud portal cannot reach).
    pub warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default)]
    defaults: Option<RawDefaults>,
    #[serde(default)]
    subscription: Vec<Spanned<RawSubscription>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    handler_base: Option<Spanned<String>>,
    auth_type: Option<Spanned<i64>>,
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
    connector: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscription {
    event: Spanned<String>,
    handler: Option<Spanned<String>>,
    auth_type: Option<Spanned<i64>>,
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
    connector: Option<Spanned<String>>,
    min_timeout: Option<Spanned<u64>>,
}

/// Reads a manifest's text; `env` looks up `${VAR}` values.
pub fn parse(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Manifest, ManifestError> {
    let locator = Locator::new(file, text);
    let raw: RawManifest = toml::from_str(text)
        .map_err(|e| locator.error(e.span().unwrap_or(0..0), e.message().trim().to_string()))?;
    let mut reader = Reader {
        locator,
        env,
        defaults: Defaults::default(),
        warnings: Vec::new(),
    };
    if let Some(defaults) = &raw.defaults {
        reader.defaults = reader.defaults(defaults)?;
    }
    let mut subscriptions = Vec::with_capacity(raw.subscription.len());
    let mut seen: HashMap<Binding, usize> = HashMap::with_capacity(raw.subscription.len());
    for entry in &raw.subscription {
        let subscription = reader.subscription(entry)?;
        if let Some(first) = seen.insert(subscription.binding(), subscription.line) {
            return Err(reader.locator.error(
                entry.span(),
                format!("duplicate subscription: the same event, handler, auth_type, type and connector as line {first}"),
            ));
        }
        subscriptions.push(subscription);
    }
    Ok(Manifest {
        subscriptions,
        warnings: reader.warnings,
    })
}

/// Turns byte offsets into file:line:column, with the line starts indexed once
/// (rescanning the text for every entry made parsing quadratic).
struct Locator<'a> {
    file: &'a str,
    text: &'a str,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
}

impl<'a> Locator<'a> {
    fn new(file: &'a str, text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        Self {
            file,
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let index = self.line_starts.partition_point(|start| *start <= offset) - 1;
        let start = self.line_starts[index];
        let column = self
            .text
            .get(start..offset)
            .map_or(0, |t| t.chars().count())
            + 1;
        (index + 1, column)
    }

    fn error(&self, span: Range<usize>, message: String) -> ManifestError {
        let (line, column) = self.line_column(span.start);
        ManifestError {
            file: self.file.to_string(),
            line,
            column,
            message,
        }
    }
}

/// `[defaults]`, checked and expanded.
#[derive(Debug, Default)]
struct Defaults {
    handler_base: Option<String>,
    kind: Option<BindingKind>,
    auth_type: Option<(i64, Range<usize>)>,
    connector: Option<String>,
}

/// Reads the entries of one manifest.
struct Reader<'a> {
    locator: Locator<'a>,
    env: &'a dyn Fn(&str) -> Option<String>,
    defaults: Defaults,
    warnings: Vec<String>,
}

impl Reader<'_> {
    /// A value with its `${VAR}`s expanded; errors point at the value.
    fn expand(&self, value: &Spanned<String>) -> Result<String, ManifestError> {
        expand(value.get_ref(), self.env).map_err(|m| self.locator.error(value.span(), m))
    }

    fn kind(&self, kind: &Spanned<String>) -> Result<BindingKind, ManifestError> {
        parse_kind(kind.get_ref()).map_err(|m| self.locator.error(kind.span(), m))
    }

    fn defaults(&self, raw: &RawDefaults) -> Result<Defaults, ManifestError> {
        Ok(Defaults {
            handler_base: raw
                .handler_base
                .as_ref()
                .map(|b| self.expand(b))
                .transpose()?,
            kind: raw.kind.as_ref().map(|k| self.kind(k)).transpose()?,
            auth_type: raw.auth_type.as_ref().map(|a| (*a.get_ref(), a.span())),
            connector: raw.connector.as_ref().map(|c| self.expand(c)).transpose()?,
        })
    }

    /// One `[[subscription]]` entry, checked as the portal would check it.
    fn subscription(
        &mut self,
        entry: &Spanned<RawSubscription>,
    ) -> Result<Subscription, ManifestError> {
        let span = entry.span();
        let (line, _) = self.locator.line_column(span.start);
        let entry = entry.get_ref();
        let event = check_event_name(&self.expand(&entry.event)?)
            .map_err(|m| self.locator.error(entry.event.span(), m))?;
        let kind = match &entry.kind {
            Some(kind) => self.kind(kind)?,
            None => self.defaults.kind.unwrap_or(BindingKind::Online),
        };
        let handler = self.handler(entry, kind, &event, &span, line)?;
        let auth_type = self.auth_type(entry, kind)?;
        let connector = self.connector(entry, kind)?;
        let min_timeout_secs = match &entry.min_timeout {
            Some(timeout) if event != "ONOFFLINEEVENT" => {
                return Err(self.locator.error(
                    timeout.span(),
                    "`min_timeout` applies to ONOFFLINEEVENT only".into(),
                ))
            }
            Some(timeout) => Some(*timeout.get_ref()),
            None => None,
        };
        let request = BindRequest {
            event,
            handler,
            auth_type,
            kind,
            connector,
            min_timeout_secs,
        };
        Ok(Subscription { request, line })
    }

    fn handler(
        &mut self,
        entry: &RawSubscription,
        kind: BindingKind,
        event: &str,
        span: &Range<usize>,
        line: usize,
    ) -> Result<Option<String>, ManifestError> {
        let handler = match (&entry.handler, kind) {
            (Some(handler), BindingKind::Offline) => return Err(self.locator.error(
                handler.span(),
                "offline subscriptions have no handler; remove `handler` or set type = \"online\""
                    .into(),
            )),
            (None, BindingKind::Offline) => return Ok(None),
            (None, BindingKind::Online) => {
                return Err(self.locator.error(
                    span.clone(),
                    format!(
                        "{event}: online subscriptions need a `handler` URL (or type = \"offline\")"
                    ),
                ))
            }
            (Some(handler), BindingKind::Online) => handler,
        };
        let expanded = self.expand(handler)?;
        let base = self.defaults.handler_base.as_deref();
        if base.is_none() && expanded.starts_with('/') {
            return Err(self.locator.error(
                handler.span(),
                format!("`{expanded}` is a path: set `handler_base` in [defaults], or give a full https:// URL"),
            ));
        }
        let url = join_base(base, &expanded);
        match check_handler_url(&url) {
            Ok(Some(warning)) => self
                .warnings
                .push(format!("{}:{line}: {warning}", self.locator.file)),
            Ok(None) => {}
            Err(error) => return Err(self.locator.error(handler.span(), error.to_string())),
        }
        Ok(Some(url))
    }

    fn auth_type(
        &self,
        entry: &RawSubscription,
        kind: BindingKind,
    ) -> Result<Option<i64>, ManifestError> {
        let auth_type = match (&entry.auth_type, kind) {
            (Some(auth), BindingKind::Offline) => {
                return Err(self.locator.error(
                    auth.span(),
                    "offline subscriptions are stored for user 0; remove `auth_type`".into(),
                ))
            }
            (Some(auth), BindingKind::Online) => Some((*auth.get_ref(), auth.span())),
            (None, BindingKind::Online) => self.defaults.auth_type.clone(),
            (None, BindingKind::Offline) => None,
        };
        match auth_type {
            Some((value, span)) if value < 0 => Err(self
                .locator
                .error(span, "auth_type is a user id: 0 or more".into())),
            other => Ok(other.map(|(value, _)| value)),
        }
    }

    fn connector(
        &self,
        entry: &RawSubscription,
        kind: BindingKind,
    ) -> Result<Option<String>, ManifestError> {
        match (&entry.connector, kind) {
            (Some(connector), BindingKind::Online) => Err(self.locator.error(
                connector.span(),
                "`connector` applies to offline subscriptions only".into(),
            )),
            (Some(connector), BindingKind::Offline) => {
                Ok(Some(self.expand(connector)?).filter(|c| !c.is_empty()))
            }
            (None, BindingKind::Offline) => {
                Ok(self.defaults.connector.clone().filter(|c| !c.is_empty()))
            }
            (None, BindingKind::Online) => Ok(None),
        }
    }
}

fn parse_kind(text: &str) -> Result<BindingKind, String> {
    match text {
        "online" => Ok(BindingKind::Online),
        "offline" => Ok(BindingKind::Offline),
        other => Err(format!(
            "type must be \"online\" or \"offline\", not \"{other}\""
        )),
    }
}

/// A handler without a scheme is a path under `defaults.handler_base`.
fn join_base(base: Option<&str>, handler: &str) -> String {
    match base {
        Some(base) if !handler.contains("://") => {
            format!(
                "{}/{}",
                base.trim_end_matches('/'),
                handler.trim_start_matches('/')
            )
        }
        _ => handler.to_string(),
    }
}

/// Whether a subscriptions file may read `name`: not bx-events' own variables
/// (`BX_EVENTS_*`, every secret among them), since a handler URL is stored on
/// the portal and printed.
fn may_expand(name: &str) -> bool {
    !name.to_ascii_uppercase().starts_with("BX_EVENTS_")
}

/// Expands `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`. bx-events' own
/// variables (`BX_EVENTS_*`, among them every secret) are refused.
pub(crate) fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let Some(inner_start) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let Some(close) = inner_start.find('}') else {
            return Err(format!("unclosed `${{` in \"{text}\""));
        };
        let inner = &inner_start[..close];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "`${{{inner}}}` is not a variable reference (use ${{NAME}} or ${{NAME:-default}})"
            ));
        }
        if !may_expand(name) {
            return Err(format!(
                "${{{name}}} is one of bx-events' own variables (they hold its credentials and settings): a subscriptions file may use any other variable, such as ${{HOOKS_URL}}"
            ));
        }
        match (env(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(format!(
                    "undefined variable ${{{name}}}: set it in the environment, or give a default with ${{{name}:-value}}"
                ))
            }
        }
        rest = &inner_start[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Renders bindings as a manifest that `apply` accepts unchanged.
pub(crate) fn export(bindings: &[Binding], header: &str) -> String {
    let mut out = String::new();
    for line in header.lines() {
        out.push_str(&format!("# {line}\n"));
    }
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    for binding in bindings {
        out.push_str("\n[[subscription]]\n");
        out.push_str(&format!("event = {}\n", quote(&binding.event)));
        match binding.kind {
            BindingKind::Online => {
                if let Some(handler) = &binding.handler {
                    out.push_str(&format!("handler = {}\n", quote(handler)));
                }
                if binding.auth_type != 0 {
                    out.push_str(&format!("auth_type = {}\n", binding.auth_type));
                }
            }
            BindingKind::Offline => {
                out.push_str("type = \"offline\"\n");
                if let Some(connector) = &binding.connector {
                    out.push_str(&format!("connector = {}\n", quote(connector)));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tools_own_variables_are_never_expanded() {
        let env = |name: &str| Some(format!("value-of-{name}"));
        for name in [
            "BX_EVENTS_CLIENT_SECRET",
            "BX_EVENTS_STORE_KEY",
            "BX_EVENTS_REFRESH_TOKEN",
            "bx_events_portal",
        ] {
            let error = expand(&format!("https://x/${{{name}}}"), &env).unwrap_err();
            assert!(error.contains("bx-events' own variables"), "{error}");
        }
        assert_eq!(
            expand("https://${HOOKS_HOST}/x", &env).unwrap(),
            "https://value-of-HOOKS_HOST/x"
        );
    }

    fn env(name: &str) -> Option<String> {
        (name == "HOOKS_URL").then(|| "https://hooks.example.com".to_string())
    }

    #[test]
    fn parses_defaults_and_expands_variables() {
        let text = r#"
[defaults]
handler_base = "${HOOKS_URL}"

[[subscription]]
event = "oncrmdealadd"
handler = "/deal"
auth_type = 1

[[subscription]]
event = "ONCRMDEALUPDATE"
type = "offline"
connector = "erp"

[[subscription]]
event = "ONTASKADD"
handler = "${TASK_URL:-https://tasks.example.com}/t"
"#;
        let manifest = parse("m.toml", text, &env).unwrap();
        let bindings: Vec<Binding> = manifest
            .subscriptions
            .iter()
            .map(Subscription::binding)
            .collect();
        assert_eq!(bindings[0].event, "ONCRMDEALADD");
        assert_eq!(
            bindings[0].handler.as_deref(),
            Some("https://hooks.example.com/deal")
        );
        assert_eq!(bindings[0].auth_type, 1);
        assert_eq!(bindings[1].kind, BindingKind::Offline);
        assert_eq!(bindings[1].connector.as_deref(), Some("erp"));
        assert_eq!(
            bindings[2].handler.as_deref(),
            Some("https://tasks.example.com/t")
        );
        assert_eq!(manifest.subscriptions[1].line, 10);
    }

    #[test]
    fn errors_carry_line_and_column() {
        let undefined = parse(
            "m.toml",
            "[[subscription]]\nevent = \"X\"\nhandler = \"${NOPE}/x\"\n",
            &env,
        )
        .unwrap_err();
        assert_eq!((undefined.line, undefined.column), (3, 11));
        assert!(undefined.message.contains("${NOPE}"));
        let unknown = parse(
            "m.toml",
            "[[subscription]]\nevent = \"X\"\nhandlr = \"https://a.b/c\"\n",
            &env,
        )
        .unwrap_err();
        assert_eq!(unknown.line, 3, "{unknown}");
        assert!(unknown.message.contains("handlr"), "{unknown}");
        let bad_event = parse(
            "m.toml",
            "[[subscription]]\nevent = \"ON CRM\"\nhandler = \"https://a.b/c\"\n",
            &env,
        )
        .unwrap_err();
        assert_eq!((bad_event.line, bad_event.column), (2, 9));
        let bad_url = parse(
            "m.toml",
            "[[subscription]]\nevent = \"X\"\nhandler = \"http://localhost/x\"\n",
            &env,
        )
        .unwrap_err();
        assert!(bad_url.message.contains("ERROR_WRONG_HANDLER_URL"));
        let syntax = parse("m.toml", "[[subscription]\nevent = 1\n", &env).unwrap_err();
        assert_eq!(syntax.line, 1);
    }

    #[test]
    fn a_path_without_handler_base_is_explained() {
        let err = parse(
            "m.toml",
            "[[subscription]]\nevent = \"X\"\nhandler = \"/deal\"\n",
            &env,
        )
        .unwrap_err();
        assert!(err.message.contains("handler_base"), "{err}");
        assert_eq!((err.line, err.column), (3, 11));
    }

    #[test]
    fn duplicates_are_refused() {
        let text = "[[subscription]]\nevent = \"A\"\nhandler = \"https://a.b/c\"\n\n[[subscription]]\nevent = \"a\"\nhandler = \"https://a.b/c\"\n";
        let err = parse("m.toml", text, &env).unwrap_err();
        assert_eq!(err.line, 5);
        assert!(err.message.contains("line 1"), "{err}");
    }

    #[test]
    fn export_round_trips() {
        let bindings = vec![
            Binding {
                event: "ONCRMDEALADD".into(),
                handler: Some("https://h.example.com/\"q\"".into()),
                auth_type: 3,
                kind: BindingKind::Online,
                connector: None,
            },
            Binding {
                event: "ONTASKADD".into(),
                handler: None,
                auth_type: 0,
                kind: BindingKind::Offline,
                connector: Some("erp".into()),
            },
        ];
        let text = export(&bindings, "exported");
        let parsed = parse("e.toml", &text, &|_| None).unwrap();
        let back: Vec<Binding> = parsed
            .subscriptions
            .iter()
            .map(Subscription::binding)
            .collect();
        assert_eq!(back, bindings);
    }

    #[test]
    fn dollar_escapes_and_plain_dollars() {
        assert_eq!(expand("a$$b$c", &env).unwrap(), "a$b$c");
        assert!(expand("${bad name}", &env).is_err());
        assert!(expand("${OPEN", &env).is_err());
    }
}
