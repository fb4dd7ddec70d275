//! PHP-style form encoding (`filter[>=ID]=10`) of nested JSON parameters, both ways.
//!
//! Bitrix24 reads `application/x-www-form-urlencoded` bodies and batch command
//! strings the way PHP does: bracketed keys build nested arrays. Handlers receive
//! events in the same shape, so the decoder serves the sandbox and `listen` too.

use serde_json::{Map, Value};

/// Deepest nesting the decoder builds; deeper keys are kept flat so a hostile
/// body cannot make the decoder recurse without bound.
const MAX_DEPTH: usize = 32;

/// Flattens a JSON value into `(key, value)` pairs with PHP-style bracketed keys.
/// Objects and arrays nest; `null` becomes an empty string and booleans `1`/`0`,
/// as PHP's `http_build_query` would send them.
pub fn flatten(value: &Value) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                flatten_into(key.clone(), item, &mut pairs);
            }
        }
        other => pairs.push((String::new(), scalar_text(other))),
    }
    pairs
}

fn flatten_into(prefix: String, value: &Value, pairs: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                flatten_into(format!("{prefix}[{key}]"), item, pairs);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                flatten_into(format!("{prefix}[{index}]"), item, pairs);
            }
        }
        scalar => pairs.push((prefix, scalar_text(scalar))),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(true) => "1".into(),
        Value::Bool(false) => "0".into(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Encodes a JSON object as a PHP-style query string (`a[b]=1&c=2`).
pub fn encode(value: &Value) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (key, text) in flatten(value) {
        serializer.append_pair(&key, &text);
    }
    serializer.finish()
}

/// Decodes a PHP-style query string into a JSON object of strings.
/// `a[]=1&a[]=2` gives an array; numeric and named keys give objects, as PHP does
/// (an object whose keys are exactly 0..n is turned into an array at the end).
pub fn decode(query: &str) -> Value {
    let pairs = url::form_urlencoded::parse(query.as_bytes()).into_owned();
    decode_pairs(pairs)
}

/// Decodes already split `(key, value)` pairs (see [`decode`]). Linear in the
/// input: each level remembers its next `[]` index instead of searching for it.
pub fn decode_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Value {
    let mut root = Branch::default();
    for (key, value) in pairs {
        let path = split_key(&key);
        root.insert(&path, value);
    }
    root.into_value()
}

/// A level of the tree being decoded.
#[derive(Default)]
struct Branch {
    entries: Map<String, Value>,
    children: std::collections::HashMap<String, Branch>,
    /// PHP's next index for `[]`: one more than the largest integer key so far.
    next_index: usize,
}

impl Branch {
    fn insert(&mut self, path: &[String], value: String) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        // `[]` appends: the next free integer key, as PHP assigns it.
        let key = if first.is_empty() {
            self.next_index.to_string()
        } else {
            first.clone()
        };
        if let Ok(index) = key.parse::<usize>() {
            if index.to_string() == key {
                self.next_index = self.next_index.max(index + 1);
            }
        }
        if rest.is_empty() {
            // A scalar replaces whatever was there, nested or not.
            self.children.remove(&key);
            self.entries.insert(key, Value::String(value));
            return;
        }
        // A nested key under a scalar's name: the nested form wins, as in PHP. The
        // entry keeps its place in the order; its value is built in `children`.
        if !self.children.contains_key(&key) {
            self.entries.insert(key.clone(), Value::Null);
            self.children.insert(key.clone(), Branch::default());
        }
        if let Some(child) = self.children.get_mut(&key) {
            child.insert(rest, value);
        }
    }

    /// The JSON value: objects keyed exactly `0..n` in order become arrays.
    fn into_value(mut self) -> Value {
        let mut map = Map::new();
        for (key, value) in std::mem::take(&mut self.entries) {
            let value = match self.children.remove(&key) {
                Some(child) => child.into_value(),
                None => value,
            };
            map.insert(key, value);
        }
        let is_list = !map.is_empty()
            && map
                .keys()
                .enumerate()
                .all(|(index, key)| key == &index.to_string());
        if is_list {
            Value::Array(map.into_iter().map(|(_, v)| v).collect())
        } else {
            Value::Object(map)
        }
    }
}

/// Decodes `KEY=VALUE` pairs whose keys use dotted paths (`FIELDS.ID=7`) or PHP
/// brackets (`FIELDS[ID]=7`) into a nested JSON object.
pub fn decode_dotted(pairs: impl IntoIterator<Item = (String, String)>) -> Value {
    decode_pairs(
        pairs
            .into_iter()
            .map(|(key, value)| (dotted_to_brackets(&key), value)),
    )
}

fn dotted_to_brackets(key: &str) -> String {
    if key.contains('[') {
        return key.to_string();
    }
    let mut parts = key.split('.');
    let mut out = parts.next().unwrap_or_default().to_string();
    for part in parts {
        out.push('[');
        out.push_str(part);
        out.push(']');
    }
    out
}

/// Splits `a[b][]` into `["a", "b", ""]`. A key without a closing bracket is kept
/// whole, as PHP does with malformed keys.
fn split_key(key: &str) -> Vec<String> {
    let Some(open) = key.find('[') else {
        return vec![key.to_string()];
    };
    if open == 0 {
        return vec![key.to_string()];
    }
    let mut parts = vec![key[..open].to_string()];
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        let Some(close) = stripped.find(']') else {
            break;
        };
        if parts.len() >= MAX_DEPTH {
            break;
        }
        parts.push(stripped[..close].to_string());
        rest = &stripped[close + 1..];
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_nested_filter_keys() {
        let encoded = encode(&json!({"filter": {">=ID": "10"}, "limit": 5}));
        assert_eq!(encoded, "filter%5B%3E%3DID%5D=10&limit=5");
    }

    #[test]
    fn decodes_nested_keys_and_lists() {
        let decoded =
            decode("event=ONCRMDEALADD&data[FIELDS][ID]=7&ids[]=1&ids[]=2&auth[domain]=x.y");
        assert_eq!(
            decoded,
            json!({"event": "ONCRMDEALADD", "data": {"FIELDS": {"ID": "7"}}, "ids": ["1", "2"], "auth": {"domain": "x.y"}})
        );
    }

    #[test]
    fn dotted_keys_nest() {
        let decoded = decode_dotted(vec![
            ("FIELDS.ID".to_string(), "7".to_string()),
            ("x".into(), "1".into()),
        ]);
        assert_eq!(decoded, json!({"FIELDS": {"ID": "7"}, "x": "1"}));
    }

    #[test]
    fn round_trips_nested_strings() {
        let original = json!({"a": {"b": ["x", "y"], "c": {"d": "e f&g"}}, "h": "=?"});
        assert_eq!(decode(&encode(&original)), original);
    }

    #[test]
    fn repeated_list_keys_append_in_order() {
        // 100,000 `a[]` keys took 23 s when each append searched for its index;
        // each level now remembers its next index (micro-benchmark: `form_decode_100k_list_keys`).
        let body = "a[]=x&".repeat(100_000) + "a[]=last";
        let decoded = decode(&body);
        let items = decoded["a"].as_array().unwrap();
        assert_eq!(items.len(), 100_001);
        assert_eq!(items[100_000], "last");
    }

    #[test]
    fn php_index_rules_hold() {
        assert_eq!(decode("a[5]=x&a[]=y"), json!({"a": {"5": "x", "6": "y"}}));
        assert_eq!(decode("a=1&a[b]=2"), json!({"a": {"b": "2"}}));
        assert_eq!(decode("a[b]=2&a=1"), json!({"a": "1"}));
    }

    #[test]
    fn deep_keys_are_bounded() {
        let key = format!("a{}", "[x]".repeat(10_000));
        let decoded = decode(&format!("{key}=1"));
        let mut depth = 0;
        let mut cursor = &decoded;
        while let Some(next) = cursor.as_object().and_then(|m| m.values().next()) {
            depth += 1;
            cursor = next;
        }
        assert!(depth <= MAX_DEPTH + 1, "depth {depth}");
    }
}
