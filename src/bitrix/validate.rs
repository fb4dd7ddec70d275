//! Checks made before a request, the way the portal makes them: handler URLs, event names.

use std::net::IpAddr;

/// The most characters a handler URL may have: the portal stores it in
/// `b_rest_event.EVENT_HANDLER`, a varchar(255).
pub const MAX_HANDLER_CHARS: usize = 255;

/// A handler URL the portal would refuse, with the portal's code for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({code})")]
pub struct HandlerUrlError {
    pub code: &'static str,
    pub message: String,
}

/// Checks a handler URL as `event.bind` does: the host must have a dot after its
/// first character and the scheme must be http or https. Returns a warning when
/// the portal will accept the URL but cannot reach it (loopback, private ranges).
///
/// ```
/// use bx_events::bitrix::check_handler_url;
/// assert!(check_handler_url("https://hooks.example.com/deal").unwrap().is_none());
/// assert!(check_handler_url("http://127.0.0.1:3000/").unwrap().is_some()); // unreachable for a cloud portal
/// let refused = check_handler_url("ftp://hooks.example.com/").unwrap_err();
/// assert_eq!(refused.code, "ERROR_UNSUPPORTED_PROTOCOL");
/// ```
pub fn check_handler_url(raw: &str) -> Result<Option<String>, HandlerUrlError> {
    let wrong = |why: &str| HandlerUrlError {
        code: "ERROR_WRONG_HANDLER_URL",
        message: format!("'{raw}' is not a handler URL the portal accepts: {why}"),
    };
    let text = raw.trim();
    let length = text.chars().count();
    if length > MAX_HANDLER_CHARS {
        return Err(HandlerUrlError {
            code: "ERROR_CORE",
            message: format!(
                "the handler URL is {length} characters; the portal stores at most {MAX_HANDLER_CHARS} (b_rest_event.EVENT_HANDLER): shorten it"
            ),
        });
    }
    // The portal reads the URL with PHP's parse_url, which keeps the scheme's case
    // and finds a host only after `scheme://`; the url crate forgives both.
    if let Some((scheme, rest)) = text.split_once(':') {
        let lower = scheme.to_ascii_lowercase();
        if matches!(lower.as_str(), "http" | "https") {
            if scheme != lower {
                return Err(HandlerUrlError {
                    code: "ERROR_UNSUPPORTED_PROTOCOL",
                    message: format!(
                        "the portal accepts the scheme only in lower case: write '{lower}:{rest}'"
                    ),
                });
            }
            if !rest.starts_with("//") {
                return Err(wrong(&format!(
                    "it needs '//' after '{scheme}:' ({scheme}://host/path)"
                )));
            }
        }
    }
    let url = url::Url::parse(raw.trim()).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => wrong(&format!(
            "it has no scheme; did you mean https://{}?",
            raw.trim().trim_start_matches('/')
        )),
        other => wrong(&format!("{other}; use https://your-host/path")),
    })?;
    let host = url.host_str().unwrap_or("");
    if host.find('.').is_none_or(|at| at == 0) {
        return Err(wrong(
            "the host needs a dot, as in hooks.example.com (the portal rejects names such as localhost)",
        ));
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(HandlerUrlError {
            code: "ERROR_UNSUPPORTED_PROTOCOL",
            message: format!(
                "'{}' cannot be used for handlers: use http:// or https://",
                url.scheme()
            ),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Ok(Some(
            "the handler URL carries a user name or password; the portal will show it to anyone who lists handlers"
                .into(),
        ));
    }
    Ok(unreachable_warning(host))
}

fn unreachable_warning(host: &str) -> Option<String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = bare.parse().ok()?;
    let private = match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00
        }
    };
    private.then(|| {
        format!(
            "{host} is a loopback or private address: a cloud portal cannot reach it (fine for the sandbox; use a public URL or a tunnel for a real portal)"
        )
    })
}

/// Checks an event name: letters, digits and underscores, as every Bitrix24 event is named.
pub fn check_event_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("the event name is empty; run `bx-events events` to see the names".into());
    }
    // Dots: the catalog module's events are CATALOG.PRODUCT.ON.ADD and the like.
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '.'))
    {
        return Err(format!(
            "'{name}' is not an event name: '{bad}' is not allowed (names look like ONCRMDEALADD or CATALOG.PRODUCT.ON.ADD)"
        ));
    }
    Ok(name.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_take_letters_digits_underscores_and_dots() {
        assert_eq!(check_event_name(" onCrmDealAdd ").unwrap(), "ONCRMDEALADD");
        assert_eq!(
            check_event_name("catalog.product.on.add").unwrap(),
            "CATALOG.PRODUCT.ON.ADD"
        );
        assert!(check_event_name("ON CRM").is_err());
        assert!(check_event_name("ON/CRM").is_err());
    }

    #[test]
    fn localhost_is_refused_like_the_portal() {
        let err = check_handler_url("http://localhost/hook").unwrap_err();
        assert_eq!(err.code, "ERROR_WRONG_HANDLER_URL");
    }

    #[test]
    fn loopback_ip_passes_with_a_warning() {
        let warning = check_handler_url("http://127.0.0.1:8080/hook").unwrap();
        assert!(warning.unwrap().contains("cannot reach"));
    }

    #[test]
    fn other_schemes_are_unsupported() {
        let err = check_handler_url("ftp://hooks.example.com/x").unwrap_err();
        assert_eq!(err.code, "ERROR_UNSUPPORTED_PROTOCOL");
    }

    #[test]
    fn a_missing_scheme_gets_a_suggestion() {
        let err = check_handler_url("hooks.example.com/deal").unwrap_err();
        assert!(
            err.message
                .contains("did you mean https://hooks.example.com/deal"),
            "{err}"
        );
    }

    #[test]
    fn public_https_passes_quietly() {
        assert_eq!(
            check_handler_url("https://hooks.example.com/deal").unwrap(),
            None
        );
    }

    #[test]
    fn event_names_are_checked_and_upper_cased() {
        assert_eq!(check_event_name("onCrmDealAdd").unwrap(), "ONCRMDEALADD");
        assert!(check_event_name("ON CRM").is_err());
        assert!(check_event_name("ONCRMÄDD").is_err());
    }
}
