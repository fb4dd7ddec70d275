//! The subscriptions manifest (`bx-events.toml`): parsing, `${VAR}` expansion,
//! validation with file:line:column errors, and export.

use std::collections::HashMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::bitrix::events::{BindRequest, Binding, BindingKind};
use crate::bitrix::validate::{check_event_name, check_handler_url};

/// The default manifest file name.
pub const DEFAULT_FILE: &str = "bx-events.toml";

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
    let locate = |span: Range<usize>, message: String| {
        let (line, column) = line_column(text, span.start);
        ManifestError {
            file: file.to_string(),
            line,
            column,
            message,
        }
    };
    let raw: RawManifest = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_string();
        locate(e.span().unwrap_or(0..0), message)
    })?;
    let expand_at =
        |value: &Spanned<String>| expand(value.get_ref(), env).map_err(|m| locate(value.span(), m));

    let defaults = raw.defaults;
    let handler_base = match defaults.as_ref().and_then(|d| d.handler_base.as_ref()) {
        Some(base) => Some(expand_at(base)?),
        None => None,
    };
    let default_kind = match defaults.as_ref().and_then(|d| d.kind.as_ref()) {
        Some(kind) => Some(parse_kind(kind.get_ref()).map_err(|m| locate(kind.span(), m))?),
        None => None,
    };
    let default_auth = defaults
        .as_ref()
        .and_then(|d| d.auth_type.as_ref())
        .map(|a| (*a.get_ref(), a.span()));
    let default_connector = match defaults.as_ref().and_then(|d| d.connector.as_ref()) {
        Some(connector) => Some(expand_at(connector)?),
        None => None,
    };

    let mut manifest = Manifest::default();
    let mut seen: HashMap<Binding, usize> = HashMap::new();
    for entry in &raw.subscription {
        let entry_span = entry.span();
        let (line, _) = line_column(text, entry_span.start);
        let entry = entry.get_ref();
        let event = check_event_name(&expand_at(&entry.event)?)
            .map_err(|m| locate(entry.event.span(), m))?;
        let kind = match &entry.kind {
            Some(kind) => parse_kind(kind.get_ref()).map_err(|m| locate(kind.span(), m))?,
            None => default_kind.unwrap_or(BindingKind::Online),
        };
        let handler = match (&entry.handler, kind) {
            (Some(handler), BindingKind::Offline) => return Err(locate(
                handler.span(),
                "offline subscriptions have no handler; remove `handler` or set type = \"online\""
                    .into(),
            )),
            (None, BindingKind::Offline) => None,
            (None, BindingKind::Online) => {
                return Err(locate(
                    entry_span,
                    format!(
                    "{event}: online subscriptions need a `handler` URL (or type = \"offline\")"
                ),
                ))
            }
            (Some(handler), BindingKind::Online) => {
                let expanded = expand_at(handler)?;
                if handler_base.is_none() && expanded.starts_with('/') {
                    return Err(locate(
                        handler.span(),
                        format!("`{expanded}` is a path: set `handler_base` in [defaults], or give a full https:// URL"),
                    ));
                }
                let url = join_base(handler_base.as_deref(), &expanded);
                match check_handler_url(&url) {
                    Ok(Some(warning)) => {
                        manifest.warnings.push(format!("{file}:{line}: {warning}"))
                    }
                    Ok(None) => {}
                    Err(error) => return Err(locate(handler.span(), error.to_string())),
                }
                Some(url)
            }
        };
        let auth_type = match (&entry.auth_type, kind) {
            (Some(auth), BindingKind::Offline) => {
                return Err(locate(
                    auth.span(),
                    "offline subscriptions are stored for user 0; remove `auth_type`".into(),
                ))
            }
            (Some(auth), BindingKind::Online) => Some((*auth.get_ref(), auth.span())),
            (None, BindingKind::Online) => default_auth.clone(),
            (None, BindingKind::Offline) => None,
        };
        if let Some((value, span)) = &auth_type {
            if *value < 0 {
                return Err(locate(
                    span.clone(),
                    "auth_type is a user id: 0 or more".into(),
                ));
            }
        }
        let connector = match &entry.connector {
            Some(connector) => Some((expand_at(connector)?, connector.span())),
            None => default_connector.clone().map(|c| (c, entry_span.clone())),
        };
        let connector = match (connector, kind) {
            (Some((_, span)), BindingKind::Online) if entry.connector.is_some() => {
                return Err(locate(
                    span,
                    "`connector` applies to offline subscriptions only".into(),
                ))
            }
            (Some((value, _)), BindingKind::Offline) => Some(value).filter(|c| !c.is_empty()),
            _ => None,
        };
        let min_timeout = match &entry.min_timeout {
            Some(timeout) if event != "ONOFFLINEEVENT" => {
                return Err(locate(
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
            auth_type: auth_type.map(|(value, _)| value),
            kind,
            connector,
            min_timeout_secs: min_timeout,
        };
        let subscription = Subscription { request, line };
        if let Some(first) = seen.insert(subscription.binding(), line) {
            return Err(locate(
                entry_span,
                format!("duplicate subscription: the same event, handler, auth_type, type and connector as line {first}"),
            ));
        }
        manifest.subscriptions.push(subscription);
    }
    Ok(manifest)
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

/// Expands `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`.
pub fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
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

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Renders bindings as a manifest that `apply` accepts unchanged.
pub fn export(bindings: &[Binding], header: &str) -> String {
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
