//! The portal's online request for an offline record: what `--format portal` (and
//! `dev`) POSTs, so a handler written for a real portal's online events works
//! unchanged (docs/dev.md).

use serde_json::{json, Map, Value};

use crate::bitrix::form;
use crate::bitrix::offline::OfflineRecord;
use crate::bitrix::Secret;
use crate::config::ActiveProfile;

/// Who the requests claim to come from: the portal and application of the profile.
#[derive(Debug, Clone)]
pub(super) struct PortalIdentity {
    pub domain: String,
    pub client_endpoint: String,
    pub server_endpoint: String,
    pub member_id: String,
    pub application_token: Option<Secret>,
    /// `--with-tokens`: the profile's (installer's) access token.
    pub tokens: Option<InstallerTokens>,
}

/// The profile's token as `auth[...]` fields (the refresh token is never sent: a
/// handler that used it would spend the pair bx-events relies on).
#[derive(Debug, Clone)]
pub(super) struct InstallerTokens {
    pub access_token: Secret,
    pub expires_in: i64,
    pub scope: String,
    pub user_id: Option<i64>,
}

impl PortalIdentity {
    /// The identity of a profile: its portal, OAuth server and `member_id`.
    pub(super) fn of(profile: &ActiveProfile, application_token: Option<Secret>) -> Self {
        let domain =
            crate::bitrix::auth::portal_domain(&profile.settings.portal).unwrap_or_default();
        let base = profile.settings.portal.trim_end_matches('/');
        let oauth = profile
            .settings
            .oauth_server
            .as_deref()
            .unwrap_or(crate::bitrix::auth::DEFAULT_OAUTH_SERVER)
            .trim_end_matches('/');
        Self {
            domain,
            client_endpoint: format!("{base}/rest/"),
            server_endpoint: format!("{oauth}/rest/"),
            member_id: profile.settings.member_id.clone().unwrap_or_default(),
            application_token,
            tokens: None,
        }
    }
}

/// The form body a portal POSTs to an online handler for this record: `event`,
/// `event_handler_id`, `data[...]` (EVENT_DATA), `ts` (TIMESTAMP_X as Unix seconds)
/// and `auth[...]`.
pub(super) fn form_body(record: &OfflineRecord, identity: &PortalIdentity) -> String {
    let ts = chrono::DateTime::parse_from_rfc3339(record.timestamp.trim())
        .map(|t| t.timestamp())
        .unwrap_or_else(|_| crate::bitrix::auth::now_unix());
    let mut auth = Map::new();
    if let Some(tokens) = &identity.tokens {
        auth.insert("access_token".into(), json!(tokens.access_token.expose()));
        auth.insert("expires_in".into(), json!(tokens.expires_in.to_string()));
        auth.insert("scope".into(), json!(tokens.scope));
    }
    auth.insert("domain".into(), json!(identity.domain));
    auth.insert("server_endpoint".into(), json!(identity.server_endpoint));
    if identity.tokens.is_some() {
        auth.insert("status".into(), json!("L"));
    }
    auth.insert("client_endpoint".into(), json!(identity.client_endpoint));
    auth.insert("member_id".into(), json!(identity.member_id));
    if let Some(user_id) = identity.tokens.as_ref().and_then(|t| t.user_id) {
        auth.insert("user_id".into(), json!(user_id.to_string()));
    }
    if let Some(token) = &identity.application_token {
        auth.insert("application_token".into(), json!(token.expose()));
    }
    let mut payload = json!({
        "event": record.event,
        // An offline binding has no handler id to report.
        "event_handler_id": "0",
        "data": record.data,
        "ts": ts.to_string(),
        "auth": Value::Object(auth),
    });
    // `--hydrate`: the object beside the portal's own keys.
    if let Some(object) = &record.object {
        payload["object"] = object.clone();
    }
    if let Some(why) = &record.object_error {
        payload["object_error"] = json!(why);
    }
    form::encode(&payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_has_the_portals_keys() {
        let record = OfflineRecord {
            id: 1,
            message_id: crate::bitrix::offline::MessageId::parse(&"a".repeat(32)).unwrap(),
            event: "ONCRMDEALADD".into(),
            timestamp: "2024-07-18T12:32:31+02:00".into(),
            data: json!({"FIELDS": {"ID": "7"}}),
            additional: json!({}),
            object: None,
            object_error: None,
        };
        let identity = PortalIdentity {
            domain: "x.bitrix24.com".into(),
            client_endpoint: "https://x.bitrix24.com/rest/".into(),
            server_endpoint: "https://oauth.bitrix.info/rest/".into(),
            member_id: "abc".into(),
            application_token: Some(Secret::new("app")),
            tokens: None,
        };
        let decoded = form::decode(&form_body(&record, &identity));
        assert_eq!(decoded["event"], "ONCRMDEALADD");
        assert_eq!(decoded["data"]["FIELDS"]["ID"], "7");
        assert_eq!(decoded["ts"], "1721298751");
        assert_eq!(decoded["auth"]["application_token"], "app");
        assert_eq!(decoded["auth"]["member_id"], "abc");
        assert!(decoded["auth"].get("access_token").is_none());
        assert!(decoded.get("object").is_none());
        // `--hydrate`: the object beside the portal's keys.
        let hydrated = OfflineRecord {
            object: Some(json!({"ID": "7", "TITLE": "Deal"})),
            ..record
        };
        let decoded = form::decode(&form_body(&hydrated, &identity));
        assert_eq!(decoded["object"]["TITLE"], "Deal");
    }
}
