//! How the portal's PHP reads request values: `intval`, truthiness, "is an array".
//!
//! The portal never validates integer-like parameters: it converts them, so
//! `clear=true` is 0 and `limit=10abc` is 10. The sandbox converts the same way so
//! that a client sending anything but plain integers fails here as it would there
//! (docs/portal.md, "intval").

use serde_json::Value;

/// PHP `intval`: leading whitespace, an optional sign and the leading digits of a
/// string; booleans are 0/1; arrays are 0 when empty and 1 otherwise.
pub(crate) fn intval(value: &Value) -> i64 {
    match value {
        Value::Null => 0,
        Value::Bool(flag) => i64::from(*flag),
        Value::Number(number) => number
            .as_i64()
            .or_else(|| number.as_f64().map(|f| f.trunc() as i64))
            .unwrap_or(0),
        Value::String(text) => leading_integer(text),
        Value::Array(items) => i64::from(!items.is_empty()),
        Value::Object(map) => i64::from(!map.is_empty()),
    }
}

fn leading_integer(text: &str) -> i64 {
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let mut number: i64 = 0;
    for byte in digits.bytes().take_while(u8::is_ascii_digit) {
        number = number
            .saturating_mul(10)
            .saturating_add(i64::from(byte - b'0'));
    }
    if negative {
        -number
    } else {
        number
    }
}

/// PHP truthiness: `""`, `"0"`, `0`, `false`, `null` and empty arrays are false;
/// every other string (`"false"` included) is true.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|f| f != 0.0),
        Value::String(text) => !(text.is_empty() || text == "0"),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// PHP `is_array`: JSON arrays and objects (form keys like `a[0]` decode to objects).
pub(crate) fn is_array(value: &Value) -> bool {
    matches!(value, Value::Array(_) | Value::Object(_))
}

/// The elements of a PHP array in order (an object's values, an array's items).
pub(crate) fn elements(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => map.values().collect(),
        _ => Vec::new(),
    }
}

/// A scalar as PHP would print it (`true` is "1", `null` and `false` are "").
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::Null | Value::Bool(false) => String::new(),
        Value::Bool(true) => "1".into(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn intval_reads_like_php() {
        assert_eq!(intval(&json!("true")), 0);
        assert_eq!(intval(&json!("yes")), 0);
        assert_eq!(intval(&json!("")), 0);
        assert_eq!(intval(&json!("1abc")), 1);
        assert_eq!(intval(&json!("  -12x")), -12);
        assert_eq!(intval(&json!(true)), 1);
        assert_eq!(intval(&json!(7.9)), 7);
        assert_eq!(intval(&json!([])), 0);
    }

    #[test]
    fn truthiness_is_phps() {
        assert!(truthy(&json!("false")));
        assert!(!truthy(&json!("0")));
        assert!(!truthy(&json!("")));
        assert!(truthy(&json!(1)));
        assert!(!truthy(&json!(0)));
    }
}
