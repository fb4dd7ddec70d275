//! Masking of secrets (tokens, client secret, webhook secret) in text, URLs and JSON.

use serde_json::Value;

/// JSON keys and query parameters whose values are always secret.
const SECRET_KEYS: &[&str] = &[
    "auth",
    "access_token",
    "refresh_token",
    "client_secret",
    "application_token",
    "password",
    "code",
];

/// Replaces a secret with a fixed marker that keeps only its length class.
pub(crate) fn mask(secret: &str) -> String {
    if secret.is_empty() {
        String::new()
    } else {
        "****".to_string()
    }
}

/// Masks the secret segment of webhook URLs (`/rest/1/SECRET/`) and secret query
/// parameters, leaving the rest readable.
pub(crate) fn mask_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return mask_webhook_path(raw);
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("****"));
    }
    let masked_path = mask_webhook_path(url.path());
    url.set_path(&masked_path);
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if is_secret_key(&key) {
                    mask(&value)
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// Masks every URL found inside free text (error messages quote URLs).
pub(crate) fn mask_urls_in_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = [rest.find("http://"), rest.find("https://")]
            .into_iter()
            .flatten()
            .min();
        let Some(start) = next else { break };
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ','))
            .unwrap_or(tail.len());
        out.push_str(&mask_url(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Masks the segment after `/rest/<digits>/` in a path or URL text.
fn mask_webhook_path(path: &str) -> String {
    let Some(start) = path.find("/rest/") else {
        return path.to_string();
    };
    let after = &path[start + "/rest/".len()..];
    let mut segments = after.splitn(3, '/');
    let user = segments.next().unwrap_or("");
    let secret = segments.next();
    let rest = segments.next();
    match secret {
        Some(secret)
            if !user.is_empty()
                && user.bytes().all(|b| b.is_ascii_digit())
                && !secret.is_empty() =>
        {
            let mut out = format!("{}/rest/{user}/****", &path[..start]);
            if let Some(rest) = rest {
                out.push('/');
                out.push_str(rest);
            }
            out
        }
        _ => path.to_string(),
    }
}

fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    SECRET_KEYS.contains(&lower.as_str())
        || lower.starts_with("auth[")
        || lower.ends_with("[access_token]")
        || lower.ends_with("[refresh_token]")
        || lower.ends_with("[application_token]")
}

/// True for the keys of an event's credentials: tokens and secrets, in plain or
/// PHP-bracket form (`auth[access_token]`), but not domains or endpoints.
pub(crate) fn is_token_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    let last = lower
        .rsplit('[')
        .next()
        .unwrap_or(&lower)
        .trim_end_matches(']');
    last.ends_with("token") || last == "client_secret" || lower == "auth"
}

/// Masks the token values of a form-encoded body, keeping its other fields and order.
pub(crate) fn mask_form_body(body: &str) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in url::form_urlencoded::parse(body.as_bytes()) {
        let value = if is_token_key(&key) {
            mask(&value)
        } else {
            value.into_owned()
        };
        serializer.append_pair(&key, &value);
    }
    serializer.finish()
}

/// Returns a copy of a JSON value with every secret-looking key masked.
pub(crate) fn mask_json(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| {
                    let masked = if is_secret_key(key) && !item.is_object() {
                        Value::String(mask(&item.to_string()))
                    } else if key.eq_ignore_ascii_case("auth") && item.is_object() {
                        mask_all_strings(item)
                    } else {
                        mask_json(item)
                    };
                    (key.clone(), masked)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(mask_json).collect()),
        Value::String(text) if text.contains("/rest/") => Value::String(mask_url(text)),
        other => other.clone(),
    }
}

/// The `auth` block of an event holds only credentials and endpoints: mask its tokens.
fn mask_all_strings(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| {
                    let lower = key.to_ascii_lowercase();
                    let secret = lower.ends_with("token") || lower == "client_secret";
                    let item = if secret {
                        Value::String(mask(&item.to_string()))
                    } else {
                        mask_json(item)
                    };
                    (key.clone(), item)
                })
                .collect(),
        ),
        other => mask_json(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_webhook_secret_segment() {
        let masked = mask_url("https://b24.example.com/rest/1/abcdef123/event.get");
        assert_eq!(masked, "https://b24.example.com/rest/1/****/event.get");
    }

    #[test]
    fn keeps_oauth_rest_urls() {
        let url = "https://b24.example.com/rest/event.get";
        assert_eq!(mask_url(url), url);
    }

    #[test]
    fn masks_secret_query_parameters() {
        let masked = mask_url("https://o.example.com/oauth/token/?client_secret=s3&refresh_token=r1&grant_type=refresh_token");
        assert!(!masked.contains("s3") && !masked.contains("r1"), "{masked}");
        assert!(masked.contains("grant_type=refresh_token"));
    }

    #[test]
    fn masks_urls_inside_messages() {
        let text = "error sending request for url (https://o.example.com/oauth/token/?refresh_token=r1&x=1): timed out";
        let masked = mask_urls_in_text(text);
        assert!(!masked.contains("r1"), "{masked}");
        assert!(masked.ends_with("): timed out"), "{masked}");
    }

    #[test]
    fn masks_event_tokens_in_form_bodies_only() {
        let body = "event=X&auth%5Bdomain%5D=a.b&auth%5Bapplication_token%5D=s3cr3t&auth%5Baccess_token%5D=t0k";
        let masked = mask_form_body(body);
        assert!(
            !masked.contains("s3cr3t") && !masked.contains("t0k"),
            "{masked}"
        );
        assert!(
            masked.contains("a.b") && masked.starts_with("event=X"),
            "{masked}"
        );
    }

    #[test]
    fn masks_json_tokens() {
        let masked = mask_json(&json!({"auth": "tok", "x": {"refresh_token": "r"}, "ok": 1}));
        assert_eq!(
            masked,
            json!({"auth": "****", "x": {"refresh_token": "****"}, "ok": 1})
        );
    }
}
