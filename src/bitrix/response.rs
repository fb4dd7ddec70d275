//! Reading answers: size cap, HTML pages, empty and non-JSON bodies, error envelopes,
//! and connection failures, each turned into a clear `ApiError`.

use reqwest::header::CONTENT_TYPE;
use serde_json::{Map, Value};

use super::error::{ApiError, NetworkFailure};
use super::mask::mask_urls_in_text;

/// A successful answer: `result` plus the list-paging fields beside it.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub result: Value,
    pub next: Option<u64>,
    pub total: Option<u64>,
    /// Every other field of the body (`time`, ...), as received.
    pub rest: Map<String, Value>,
}

impl Envelope {
    /// The whole body again, `result` first.
    pub fn into_raw(self) -> Value {
        let mut body = Map::with_capacity(self.rest.len() + 1);
        body.insert("result".into(), self.result);
        body.extend(self.rest);
        Value::Object(body)
    }
}

/// Answers larger than this are refused rather than buffered.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Answers weighing more than this are refused before they are parsed. A parsed
/// value takes 32 bytes (an object a few hundred) whatever its text's size, so a
/// 7 MB body of `{"":0},...` took 460 MB; the weight counts every value as 1, an
/// array as 2 and an object as 8, which keeps any parsed answer under about five
/// times the 64 MiB body cap (docs/benchmarks.md). A real portal's largest answers
/// (`event.get` with 20,000 handlers) weigh about 300,000.
pub(crate) const MAX_JSON_WEIGHT: usize = 4_000_000;

pub(crate) fn header_text(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    method: &str,
    masked_url: &str,
) -> Result<Vec<u8>, ApiError> {
    let status = response.status().as_u16();
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(ApiError::BadResponse {
                        method: method.to_string(),
                        status,
                        what: format!("a body larger than {} MiB", MAX_BODY_BYTES / (1024 * 1024)),
                    });
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(bytes),
            Err(e) => return Err(network_error(method, masked_url, e)),
        }
    }
}

pub(crate) fn network_error(method: &str, masked_url: &str, error: reqwest::Error) -> ApiError {
    // The URL is reported masked beside the detail; reqwest's copy of it may hold secrets.
    let error = error.without_url();
    let detail = error_chain_text(&error);
    let lower = detail.to_ascii_lowercase();
    let failure = if error.is_timeout() {
        NetworkFailure::Timeout
    } else if lower.contains("invalidcontenttype") || lower.contains("corrupt message") {
        // rustls read a plain HTTP answer where a TLS record should be.
        NetworkFailure::PlainHttpServer
    } else if lower.contains("certificate")
        || lower.contains("unknownissuer")
        || lower.contains("tls")
    {
        NetworkFailure::Certificate
    } else if error.is_connect() {
        NetworkFailure::Connect
    } else if error.is_body()
        || error.is_request()
        || lower.contains("connection closed")
        || lower.contains("reset")
        || lower.contains("incomplete")
    {
        NetworkFailure::Dropped
    } else {
        NetworkFailure::Other
    };
    ApiError::Network {
        method: method.to_string(),
        url: masked_url.to_string(),
        failure,
        detail: mask_urls_in_text(&detail),
    }
}

/// reqwest's own message hides the cause; the chain says "connection refused".
fn error_chain_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.iter().any(|p: &String| p.contains(&text)) {
            parts.push(text);
        }
        current = err.source();
    }
    parts.join(": ")
}

/// Parses a body as JSON, naming what arrived instead when it is not JSON.
pub(crate) fn parse_body(
    method: &str,
    status: u16,
    content_type: &str,
    bytes: &[u8],
) -> Result<Value, ApiError> {
    let bad = |what: String| ApiError::BadResponse {
        method: method.to_string(),
        status,
        what,
    };
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() {
        return Err(bad("an empty body".into()));
    }
    if content_type.contains("text/html") || trimmed.first() == Some(&b'<') {
        let text = String::from_utf8_lossy(trimmed);
        let what = match html_title(&text) {
            Some(title) => format!("an HTML page titled \"{title}\""),
            None => "an HTML page".to_string(),
        };
        return Err(bad(what));
    }
    if json_weight_exceeds(trimmed, MAX_JSON_WEIGHT) {
        return Err(bad(format!(
            "JSON of more values than bx-events parses (weight over {MAX_JSON_WEIGHT}: each value 1, array 2, object 8), refused before parsing to bound memory"
        )));
    }
    match serde_json::from_slice::<Value>(trimmed) {
        Ok(value) => Ok(value),
        Err(e) if e.to_string().contains("recursion limit") => {
            Err(bad("JSON nested deeper than 128 levels".into()))
        }
        Err(_) if std::str::from_utf8(trimmed).is_err() => {
            Err(bad("a body that is not UTF-8 text".into()))
        }
        Err(e) if e.is_eof() => Err(bad("a truncated JSON body".into())),
        Err(_) => Err(bad("a body that is not JSON".into())),
    }
}

/// Whether `json` weighs more than `limit` (see [`MAX_JSON_WEIGHT`]), counted in one
/// pass without parsing, outside strings: 1 per element after a separator, 2 per
/// array, 8 per object. (Malformed text is left to the parser to name.)
fn json_weight_exceeds(json: &[u8], limit: usize) -> bool {
    let mut weight = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b',' | b'[' | b'{' => {
                weight += match byte {
                    b',' => 1,
                    b'[' => 2,
                    _ => 8,
                };
                if weight > limit {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

fn html_title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<title>")? + "<title>".len();
    let end = start + lower[start..].find("</title>")?;
    let title: String = html
        .get(start..end)?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let title: String = title.chars().take(80).collect();
    (!title.is_empty()).then_some(title)
}

/// Decodes the `result` of an answer straight into `T`; an answer without one
/// (an error, an HTML page) is read as [`parse_body`] and [`envelope_from`] read it.
pub(crate) fn decode_result<T: serde::de::DeserializeOwned>(
    method: &str,
    status: u16,
    content_type: &str,
    bytes: &[u8],
) -> Result<T, ApiError> {
    #[derive(serde::Deserialize)]
    struct WithResult<T> {
        result: Option<T>,
    }
    let trimmed = bytes.trim_ascii();
    let plausible = (200..300).contains(&status)
        && trimmed.first() == Some(&b'{')
        && !json_weight_exceeds(trimmed, MAX_JSON_WEIGHT);
    if plausible {
        if let Ok(WithResult {
            result: Some(result),
        }) = serde_json::from_slice(trimmed)
        {
            return Ok(result);
        }
    }
    let raw = parse_body(method, status, content_type, bytes)?;
    envelope_from(method, status, raw)?;
    Err(ApiError::BadResponse {
        method: method.to_string(),
        status,
        what: "a result of an unexpected shape".into(),
    })
}

/// Reads the error or result of a parsed envelope. The answer is taken apart, not
/// copied: a list of 20,000 handlers exists once in memory.
pub(crate) fn envelope_from(method: &str, status: u16, raw: Value) -> Result<Envelope, ApiError> {
    let Value::Object(mut map) = raw else {
        return Err(ApiError::BadResponse {
            method: method.to_string(),
            status,
            what: "JSON that is not an object".into(),
        });
    };
    if let Some(code) = map.get("error") {
        return Err(ApiError::Portal {
            method: method.to_string(),
            code: text_of(code),
            description: map
                .get("error_description")
                .map(text_of)
                .unwrap_or_default(),
            status,
            argument: map.get("argument").map(text_of),
            reset_at: map
                .get("time")
                .and_then(|t| t.get("operating_reset_at"))
                .and_then(|v| {
                    v.as_f64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                }),
        });
    }
    let Some(result) = map.shift_remove("result") else {
        return Err(ApiError::BadResponse {
            method: method.to_string(),
            status,
            what: "JSON with neither \"result\" nor \"error\"".into(),
        });
    };
    let as_u64 = |key: &str| {
        map.get(key)
            .and_then(super::auth::value_as_i64)
            .and_then(|n| u64::try_from(n).ok())
    };
    Ok(Envelope {
        result,
        next: as_u64("next"),
        total: as_u64("total"),
        rest: map,
    })
}

pub(crate) fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.chars().take(500).collect(),
        other => other.to_string().chars().take(500).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_error_pages_are_named() {
        let err = parse_body(
            "event.get",
            502,
            "text/html",
            b"<html><head><title>502 Bad Gateway</title></head></html>",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("HTML page titled \"502 Bad Gateway\""),
            "{err}"
        );
    }

    #[test]
    fn empty_and_garbage_bodies_are_named() {
        let empty = parse_body("events", 200, "", b"  ").unwrap_err();
        assert!(empty.to_string().contains("empty body"));
        let garbage = parse_body("events", 200, "application/json", b"{\"result\":").unwrap_err();
        assert!(garbage.to_string().contains("truncated"), "{garbage}");
        let binary = parse_body("events", 200, "", &[0xff, 0xfe, 0x00]).unwrap_err();
        assert!(binary.to_string().contains("UTF-8"), "{binary}");
    }

    #[test]
    fn answers_that_would_amplify_in_memory_are_refused_before_parsing() {
        let mut body = b"{\"result\":[".to_vec();
        for _ in 0..MAX_JSON_WEIGHT / 9 + 1 {
            body.extend_from_slice(b"{\"\":0},");
        }
        body.extend_from_slice(b"{}]}");
        let err = parse_body("event.get", 200, "application/json", &body).unwrap_err();
        assert!(err.to_string().contains("bound memory"), "{err}");
        // Separators inside strings are text, not values.
        let text = format!("{{\"result\":\"{}\"}}", ",".repeat(MAX_JSON_WEIGHT + 10));
        assert!(parse_body("event.get", 200, "application/json", text.as_bytes()).is_ok());
        // {  [ , , {  : 1 + 8 + 2 + 1 + 1 + 8 = 21
        assert!(!json_weight_exceeds(br#"{"a":[1,2,{"b":"[,{"}]}"#, 21));
        assert!(json_weight_exceeds(br#"{"a":[1,2,{"b":"[,{"}]}"#, 20));
    }

    #[test]
    fn deep_nesting_is_named() {
        let body = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let err = parse_body("events", 200, "application/json", body.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("nested deeper"), "{err}");
    }

    #[test]
    fn error_envelope_keeps_code_status_and_argument() {
        let raw = serde_json::json!({"error": "ERROR_ARGUMENT", "error_description": "Argument 'EVENT' is null or empty", "argument": "EVENT"});
        let err = envelope_from("event.bind", 400, raw).unwrap_err();
        assert_eq!(err.code(), Some("ERROR_ARGUMENT"));
        assert_eq!(err.http_status(), Some(400));
        assert!(matches!(err, ApiError::Portal { argument: Some(ref a), .. } if a == "EVENT"));
    }

    #[test]
    fn paging_fields_are_read_from_strings_or_numbers() {
        let raw = serde_json::json!({"result": [], "next": "50", "total": 120});
        let envelope = envelope_from("event.offline.list", 200, raw).unwrap();
        assert_eq!((envelope.next, envelope.total), (Some(50), Some(120)));
    }
}
