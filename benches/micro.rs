//! In-process pieces on hot paths: form encoding, `event.get` normalisation, manifests.

use bx_events::bitrix::events::parse_bindings;
use bx_events::bitrix::form;
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;

fn event_body() -> serde_json::Value {
    json!({
        "event": "ONCRMDEALUPDATE",
        "event_handler_id": "975",
        "data": {"FIELDS": {"ID": "7405", "TITLE": "Deal #7405", "STAGE_ID": "WON", "TAGS": ["a", "b", "c"]}},
        "ts": "1766047124",
        "auth": {"domain": "example.bitrix24.com", "client_endpoint": "https://example.bitrix24.com/rest/",
                 "server_endpoint": "https://oauth.bitrix.info/rest/", "member_id": "0123456789abcdef0123456789abcdef",
                 "application_token": "0123456789abcdef0123456789abcdef"}
    })
}

fn bench(c: &mut Criterion) {
    let body = event_body();
    let encoded = form::encode(&body);
    c.bench_function("form_encode_event", |b| b.iter(|| form::encode(&body)));
    c.bench_function("form_decode_event", |b| b.iter(|| form::decode(&encoded)));
    // A hostile handler body: 100,000 repeated `a[]` keys (linear since the fix).
    let flood = "a[]=x&".repeat(100_000);
    c.bench_function("form_decode_100k_list_keys", |b| {
        b.iter(|| form::decode(&flood))
    });

    let items: Vec<serde_json::Value> = (0..5000)
        .map(|i| json!({"event": "ONCRMDEALADD", "handler": format!("https://hooks.example.com/h{i}"), "auth_type": "0", "offline": 0}))
        .collect();
    let result = serde_json::Value::Array(items);
    c.bench_function("parse_5000_bindings", |b| {
        b.iter(|| parse_bindings(&result).unwrap())
    });

    let manifest: String = (0..1000)
        .map(|i| format!("[[subscription]]\nevent = \"ONCRMDEALADD\"\nhandler = \"${{HOOKS_URL:-https://hooks.example.com}}/h{i}\"\n\n"))
        .collect();
    c.bench_function("parse_manifest_1000", |b| {
        b.iter(|| bx_events::internal::parse_manifest("m.toml", &manifest, &|_| None).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
