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
/// For a body from the network, [`decode_limited`] caps what it may build.
///
/// ```
/// // What a portal POSTs to an event handler:
/// let event = bx_events::bitrix::form::decode(
///     "event=ONCRMDEALADD&data%5BFIELDS%5D%5BID%5D=7&auth%5Bdomain%5D=example.bitrix24.com",
/// );
/// assert_eq!(event["event"], "ONCRMDEALADD");
/// assert_eq!(event["data"]["FIELDS"]["ID"], "7");
/// ```
pub fn decode(query: &str) -> Value {
    let pairs = url::form_urlencoded::parse(query.as_bytes()).into_owned();
    decode_pairs(pairs)
}

/// Decodes already split `(key, value)` pairs (see [`decode`]). Linear in the
/// input: each level remembers its next `[]` index instead of searching for it.
pub fn decode_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Value {
    match decode_limited(pairs, usize::MAX) {
        Ok(value) => value,
        // Unreachable: no tree has usize::MAX nodes.
        Err(TooComplex { .. }) => Value::Object(Map::new()),
    }
}

/// A form that would build more nodes (objects, arrays and values) than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the form builds more than {limit} values")]
pub struct TooComplex {
    pub limit: usize,
}

/// The node budget for a body of `bytes` bytes that keeps a decoded form within a
/// small multiple of its size: a node of the decoded tree costs about a hundred
/// bytes, so each must be paid for by input. A real event's form has a few dozen
/// fields, each of which adds about one node (the levels above it are shared);
/// the floor lets any form of 20,000 flat fields through (listen's field cap).
pub fn node_budget(bytes: usize) -> usize {
    24_576 + bytes / 16
}

/// [`decode_pairs`] that stops with [`TooComplex`] once the tree would hold more
/// than `max_nodes` nodes, so a hostile form (thousands of keys 32 levels deep)
/// costs no more memory than the budget allows.
pub fn decode_limited(
    pairs: impl IntoIterator<Item = (String, String)>,
    max_nodes: usize,
) -> Result<Value, TooComplex> {
    let mut root = Branch::default();
    let mut nodes = 0usize;
    for (key, value) in pairs {
        let path: Vec<Key> = split_key(&key).into_iter().map(Key::from).collect();
        root.insert(&path, value, &mut nodes);
        if nodes > max_nodes {
            return Err(TooComplex { limit: max_nodes });
        }
    }
    Ok(root.into_value())
}

/// A key at one level. Integer keys are numbers, as PHP makes them (`a[5]` and a
/// sixth `a[]` are the same key), and cost no allocation.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    /// `[]`: the level's next index.
    Append,
    Index(usize),
    Name(Box<str>),
}

impl From<String> for Key {
    fn from(text: String) -> Self {
        if text.is_empty() {
            return Self::Append;
        }
        match text.parse::<usize>() {
            // Only canonical integers: `05` stays a name, as in PHP.
            Ok(index) if index.to_string() == text => Self::Index(index),
            _ => Self::Name(text.into_boxed_str()),
        }
    }
}

impl Key {
    fn into_text(self) -> String {
        match self {
            Self::Index(index) => index.to_string(),
            Self::Name(name) => name.into_string(),
            Self::Append => String::new(),
        }
    }
}

enum Node {
    Leaf(String),
    Branch(Box<Branch>),
}

/// A level of the tree being decoded: entries in first-seen order, as PHP keeps
/// them. Kept lean (a chain of one-entry levels is a hostile form's cheapest
/// shape): the position index exists only on levels with many entries.
#[derive(Default)]
struct Branch {
    entries: Vec<(Key, Node)>,
    positions: Option<std::collections::HashMap<Key, usize>>,
    /// PHP's next index for `[]`: one more than the largest integer key so far.
    next_index: usize,
}

/// Entries a level searches linearly before it builds a position index.
const LINEAR_ENTRIES: usize = 16;

impl Branch {
    fn insert(&mut self, path: &[Key], value: String, nodes: &mut usize) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        let key = match first {
            Key::Append => Key::Index(self.next_index),
            key => key.clone(),
        };
        if let Key::Index(index) = key {
            self.next_index = self.next_index.max(index.saturating_add(1));
        }
        let position = match self.position(&key, matches!(first, Key::Append)) {
            Some(position) => position,
            None => {
                *nodes += 1;
                self.push(key, Node::Leaf(String::new()))
            }
        };
        let slot = &mut self.entries[position].1;
        if rest.is_empty() {
            // A scalar replaces whatever was there, nested or not, in its place.
            *slot = Node::Leaf(value);
            return;
        }
        // A nested key under a scalar's name: the nested form wins, as in PHP.
        if let Node::Leaf(_) = slot {
            *slot = Node::Branch(Box::default());
        }
        if let Node::Branch(child) = slot {
            child.insert(rest, value, nodes);
        }
    }

    /// Where `key` is; `fresh` keys (a `[]` append) are new by construction.
    fn position(&self, key: &Key, fresh: bool) -> Option<usize> {
        if fresh {
            return None;
        }
        match &self.positions {
            Some(positions) => positions.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    fn push(&mut self, key: Key, node: Node) -> usize {
        let position = self.entries.len();
        if self.entries.capacity() == 0 {
            // Most levels of a form hold one entry: no room for four.
            self.entries.reserve_exact(1);
        }
        if let Some(positions) = &mut self.positions {
            positions.insert(key.clone(), position);
        } else if position >= LINEAR_ENTRIES {
            let mut positions: std::collections::HashMap<Key, usize> = self
                .entries
                .iter()
                .enumerate()
                .map(|(at, (k, _))| (k.clone(), at))
                .collect();
            positions.insert(key.clone(), position);
            self.positions = Some(positions);
        }
        self.entries.push((key, node));
        position
    }

    /// The JSON value: levels keyed exactly `0..n` in order become arrays.
    fn into_value(self) -> Value {
        let is_list = !self.entries.is_empty()
            && self
                .entries
                .iter()
                .enumerate()
                .all(|(at, (key, _))| *key == Key::Index(at));
        let values = self.entries.into_iter().map(|(key, node)| {
            let value = match node {
                Node::Leaf(text) => Value::String(text),
                Node::Branch(child) => child.into_value(),
            };
            (key, value)
        });
        if is_list {
            Value::Array(values.map(|(_, value)| value).collect())
        } else {
            Value::Object(
                values
                    .map(|(key, value)| (key.into_text(), value))
                    .collect(),
            )
        }
    }
}

/// Decodes `KEY=VALUE` pairs whose keys use dotted paths (`FIELDS.ID=7`) or PHP
/// brackets (`FIELDS[ID]=7`) into a nested JSON object.
pub(crate) fn decode_dotted(pairs: impl IntoIterator<Item = (String, String)>) -> Value {
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
    fn a_form_past_its_node_budget_is_refused_before_it_is_built() {
        let key = format!("a{}", "[]".repeat(32));
        let body = format!("{key}=x&").repeat(2_000);
        let pairs = url::form_urlencoded::parse(body.as_bytes()).into_owned();
        assert_eq!(
            decode_limited(pairs, node_budget(body.len())),
            Err(TooComplex {
                limit: node_budget(body.len())
            })
        );
        // Shared levels are counted once: many fields under one prefix pass.
        let honest: String = (0..30_000)
            .map(|n| format!("data%5BFIELDS%5D%5BF{n}%5D=v&"))
            .collect();
        let pairs = url::form_urlencoded::parse(honest.as_bytes()).into_owned();
        let decoded = decode_limited(pairs, node_budget(honest.len())).unwrap();
        assert_eq!(decoded["data"]["FIELDS"]["F29999"], "v");
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
