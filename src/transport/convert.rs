//! Proto ⇄ contract-type translation, both ways, with the exact semantics
//! of SPEC §1–2: `*_present` flags, `None` → an empty result, Struct
//! numbers as floats, `updated_metadata` always sent.
//!
//! The server decodes requests and encodes responses; the client (`call`,
//! the load benchmark, the tests) does the reverse with the same module,
//! and the round-trip tests (`round_trip.rs`) hold the two halves together.

use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value as ProtoValue};
use serde_json::{Map, Number, Value};

use crate::contract::{Headers, JsonObject};

mod request;
mod response;

pub use request::{invocation, request_to_proto};
pub use response::{WireOutcome, decode_response, success};

/// Nesting beyond which Struct values are cut (to `null`) when converted.
const MAX_STRUCT_DEPTH: usize = 64;

/// A protobuf `Value` as JSON. Numbers stay floats, as the old executor gave
/// them; NaN and infinities (which JSON lacks) become `null`.
pub fn value_to_json(value: &ProtoValue) -> Value {
    value_to_json_at(value, 0)
}

fn value_to_json_at(value: &ProtoValue, depth: usize) -> Value {
    if depth > MAX_STRUCT_DEPTH {
        return Value::Null;
    }
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(number)) => {
            Number::from_f64(*number).map_or(Value::Null, Value::Number)
        }
        Some(Kind::StringValue(text)) => Value::String(text.clone()),
        Some(Kind::BoolValue(flag)) => Value::Bool(*flag),
        Some(Kind::StructValue(object)) => Value::Object(struct_to_json_at(object, depth + 1)),
        Some(Kind::ListValue(list)) => Value::Array(
            list.values
                .iter()
                .map(|item| value_to_json_at(item, depth + 1))
                .collect(),
        ),
    }
}

/// A protobuf `Struct` as a JSON object.
pub fn struct_to_json(object: &Struct) -> JsonObject {
    struct_to_json_at(object, 0)
}

/// [`struct_to_json`] of an optional message field; absent is `{}`.
pub fn optional_struct_to_json(object: Option<&Struct>) -> JsonObject {
    object.map(struct_to_json).unwrap_or_default()
}

fn struct_to_json_at(object: &Struct, depth: usize) -> JsonObject {
    object
        .fields
        .iter()
        .map(|(key, value)| (key.clone(), value_to_json_at(value, depth)))
        .collect()
}

/// JSON as a protobuf `Value` (every number becomes a double).
pub fn json_to_value(value: &Value) -> ProtoValue {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(flag) => Kind::BoolValue(*flag),
        Value::Number(number) => Kind::NumberValue(number.as_f64().unwrap_or(0.0)),
        Value::String(text) => Kind::StringValue(text.clone()),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(json_to_value).collect(),
        }),
        Value::Object(object) => Kind::StructValue(json_to_struct(object)),
    };
    ProtoValue { kind: Some(kind) }
}

/// A JSON object as a protobuf `Struct`.
pub fn json_to_struct(object: &Map<String, Value>) -> Struct {
    Struct {
        fields: object
            .iter()
            .map(|(key, value)| (key.clone(), json_to_value(value)))
            .collect(),
    }
}

/// A wire header map as contract headers.
fn headers(map: std::collections::HashMap<String, String>) -> Headers {
    map.into_iter().collect()
}

#[cfg(test)]
mod round_trip;
#[cfg(test)]
mod tests;
