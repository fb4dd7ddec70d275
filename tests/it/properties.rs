//! Property tests: the PHP-style form encoder and decoder, the filter parser and the
//! manifest parser never panic, and round-trip what they should.

use bx_events::bitrix::form;
use bx_events::bitrix::offline::{parse_filter, LIST_FIELDS};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Nested objects and non-empty lists of strings, as handlers receive them. Keys start
/// with a letter (numeric keys are PHP lists) and empty containers are left out
/// (a form body cannot carry them).
fn nested() -> impl Strategy<Value = Value> {
    let leaf = any::<String>().prop_map(Value::String);
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Value::Array),
            prop::collection::btree_map("[A-Za-z][A-Za-z0-9_]{0,8}", inner, 1..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

proptest! {
    #[test]
    fn form_encoding_round_trips(map in prop::collection::btree_map("[A-Za-z][A-Za-z0-9_]{0,8}", nested(), 1..5)) {
        let value = Value::Object(map.into_iter().collect());
        prop_assert_eq!(form::decode(&form::encode(&value)), value);
    }

    #[test]
    fn form_decoder_never_panics(text in ".{0,200}") {
        let _ = form::decode(&text);
    }

    #[test]
    fn filter_parser_never_panics_and_keeps_allowed_fields(text in ".{0,40}") {
        if let Ok((key, _)) = parse_filter(&text, LIST_FIELDS) {
            let field = key.trim_start_matches(['=', '>', '<', '%']);
            prop_assert!(LIST_FIELDS.contains(&field));
        }
    }

    #[test]
    fn manifest_parser_never_panics(text in "(\\[\\[subscription\\]\\]\n|event = \"[A-Z_]{0,12}\"\n|handler = \"[a-z:/.${}A-Z_-]{0,30}\"\n|type = \"(online|offline|x)\"\n|auth_type = -?[0-9]{1,3}\n|connector = \"[a-z]{0,4}\"\n){0,12}") {
        let _ = bx_events::internal::parse_manifest("p.toml", &text, &|_| None);
    }
}
