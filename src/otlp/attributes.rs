//! OTLP attribute values as JSON text, the form attribute sets are stored in.
//!
//! The mapping keeps every OTLP value type distinguishable where JSON can:
//!
//! | OTLP value      | JSON                                             |
//! | --------------- | ------------------------------------------------ |
//! | string          | string                                           |
//! | bool            | `true` / `false`                                 |
//! | int (i64)       | integer, exact (`42`)                            |
//! | double          | number with a fraction or exponent (`1.0`, `2.5e-7`); NaN and the infinities as the strings `"NaN"`, `"Infinity"`, `"-Infinity"` |
//! | bytes           | base64 string (standard alphabet, padded)        |
//! | array           | array                                            |
//! | key-value list  | object                                           |
//! | empty value     | `null`                                           |
//!
//! A key set twice in one attribute list stays twice in the object, in order: OTLP allows
//! it and Vigil stores what was sent. JSON readers return the first occurrence.

use std::fmt::Write as _;

use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};

/// Nesting deeper than this is written as `null`; the decoders refuse such input earlier,
/// so only a hand-built message can reach it.
const MAX_DEPTH: usize = 64;

/// Writes `attributes` as a JSON object into `out` (which is cleared first).
pub fn write_object(out: &mut String, attributes: &[KeyValue]) {
    out.clear();
    write_key_values(out, attributes, 0);
}

/// Returns `attributes` as a JSON object.
pub fn to_json(attributes: &[KeyValue]) -> String {
    let mut out = String::with_capacity(16 + attributes.len() * 32);
    write_key_values(&mut out, attributes, 0);
    out
}

/// The text a value reads as when a plain string is wanted (log bodies, `service.name`):
/// strings as they are, everything else as its JSON form.
pub fn value_as_text(value: &AnyValue) -> String {
    match &value.value {
        Some(Value::StringValue(s)) => s.clone(),
        _ => {
            let mut out = String::new();
            write_any(&mut out, Some(value), 0);
            out
        }
    }
}

/// The OTLP type name of a value, as stored in `body_type`.
pub fn type_name(value: &AnyValue) -> Option<&'static str> {
    Some(match value.value.as_ref()? {
        Value::StringValue(_) | Value::StringValueStrindex(_) => "string",
        Value::BoolValue(_) => "bool",
        Value::IntValue(_) => "int",
        Value::DoubleValue(_) => "double",
        Value::ArrayValue(_) => "array",
        Value::KvlistValue(_) => "map",
        Value::BytesValue(_) => "bytes",
    })
}

fn write_key_values(out: &mut String, attributes: &[KeyValue], depth: usize) {
    out.push('{');
    for (i, kv) in attributes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, &kv.key);
        out.push(':');
        write_any(out, kv.value.as_ref(), depth + 1);
    }
    out.push('}');
}

fn write_any(out: &mut String, value: Option<&AnyValue>, depth: usize) {
    let Some(value) = value.and_then(|v| v.value.as_ref()) else {
        out.push_str("null");
        return;
    };
    if depth > MAX_DEPTH {
        out.push_str("null");
        return;
    }
    match value {
        Value::StringValue(s) => write_string(out, s),
        Value::BoolValue(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::IntValue(i) => {
            let _ = write!(out, "{i}");
        }
        Value::DoubleValue(d) => write_double(out, *d),
        Value::BytesValue(b) => {
            out.push('"');
            base64::engine::general_purpose::STANDARD.encode_string(b, out);
            out.push('"');
        }
        Value::ArrayValue(array) => {
            out.push('[');
            for (i, item) in array.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_any(out, Some(item), depth + 1);
            }
            out.push(']');
        }
        Value::KvlistValue(list) => write_key_values(out, &list.values, depth + 1),
        // String tables exist only in the profiles signal, which Vigil does not receive.
        Value::StringValueStrindex(i) => {
            let _ = write!(out, "{i}");
        }
    }
}

fn write_double(out: &mut String, d: f64) {
    if d.is_nan() {
        out.push_str("\"NaN\"");
    } else if d.is_infinite() {
        out.push_str(if d > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
    } else {
        // `Debug` always prints a fraction or exponent (`1.0`, `1e100`), so the value
        // reads back as a double and not as an integer.
        let _ = write!(out, "{d:?}");
    }
}

/// Writes `s` as a JSON string literal.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    #[test]
    fn every_value_type_keeps_its_json_type() {
        let attrs = vec![
            kv("s", Value::StringValue("a\"b\n\u{1}".into())),
            kv("b", Value::BoolValue(true)),
            kv("i", Value::IntValue(-9_007_199_254_740_993)),
            kv("d", Value::DoubleValue(1.0)),
            kv("nan", Value::DoubleValue(f64::NAN)),
            kv("inf", Value::DoubleValue(f64::NEG_INFINITY)),
            kv("bytes", Value::BytesValue(b"foo".to_vec())),
            kv(
                "arr",
                Value::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(Value::IntValue(1)),
                        },
                        AnyValue { value: None },
                    ],
                }),
            ),
            kv(
                "map",
                Value::KvlistValue(KeyValueList {
                    values: vec![kv("k", Value::StringValue("v".into()))],
                }),
            ),
        ];
        assert_eq!(
            to_json(&attrs),
            r#"{"s":"a\"b\n\u0001","b":true,"i":-9007199254740993,"d":1.0,"nan":"NaN","inf":"-Infinity","bytes":"Zm9v","arr":[1,null],"map":{"k":"v"}}"#
        );
        // The output is valid JSON for an independent parser.
        let parsed: serde_json::Value = serde_json::from_str(&to_json(&attrs)).unwrap();
        assert_eq!(parsed["i"].as_i64(), Some(-9_007_199_254_740_993));
        assert!(parsed["d"].is_f64());
    }

    #[test]
    fn duplicate_keys_are_kept_in_order() {
        let attrs = vec![
            kv("k", Value::StringValue("1".into())),
            kv("k", Value::IntValue(1)),
        ];
        assert_eq!(to_json(&attrs), r#"{"k":"1","k":1}"#);
    }

    #[test]
    fn empty_and_absent_values_are_null() {
        let attrs = vec![
            KeyValue {
                key: "none".into(),
                value: None,
                ..Default::default()
            },
            KeyValue {
                key: "empty".into(),
                value: Some(AnyValue { value: None }),
                ..Default::default()
            },
        ];
        assert_eq!(to_json(&attrs), r#"{"none":null,"empty":null}"#);
        assert_eq!(to_json(&[]), "{}");
    }
}
