//! Test-only generators shared by the provider parsers' property tests.

use proptest::prelude::*;
use serde_json::Value;

/// Arbitrary JSON, nested up to four levels, whose object keys are often one of
/// `keys` (the fields a parser looks for) and otherwise random.
pub fn json_value(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        let key = prop_oneof![
            prop::sample::select(keys).prop_map(str::to_string),
            "[a-zA-Z_]{1,10}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
