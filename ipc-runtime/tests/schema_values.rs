//! Messages read and written with a schema tree instead of their type: every valid
//! message round-trips through a `Value` and through JSON to the same bytes; reading
//! checks exactly what `Message::validate` checks and names the same field; JSON that
//! does not fit the type is refused with the field's path.

mod schema_types;

use ipc::schema::{SchemaTree, Value, ValueProblem};
use ipc::FixedStr;
use proptest::prelude::*;
use schema_types::{cases, valid_bytes, Case, Order};

fn case_and_bytes() -> impl Strategy<Value = (usize, Vec<u8>)> {
    let cases = cases();
    let strategies: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| valid_bytes(&c.tree).prop_map(move |b| (i, b)))
        .collect();
    prop::strategy::Union::new(strategies)
}

fn case_and_any_bytes() -> impl Strategy<Value = (usize, Vec<u8>)> {
    let sizes: Vec<usize> = cases().iter().map(|c| c.size).collect();
    (0..sizes.len()).prop_flat_map(move |i| {
        // Mostly valid values with a byte or two changed, so that each check is reached.
        (
            valid_bytes(&cases()[i].tree),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        )
            .prop_map(move |(mut b, changes)| {
                for (at, v) in changes {
                    if !b.is_empty() {
                        let at = at.index(b.len());
                        b[at] = v;
                    }
                }
                (i, b)
            })
            .boxed()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// bytes → Value → bytes, and bytes → Value → JSON → Value → bytes, exactly; the value
    /// prints as `#[derive(Debug)]` prints the Rust value; the JSON is JSON to serde_json.
    #[test]
    fn valid_messages_round_trip_through_values_and_json((i, bytes) in case_and_bytes()) {
        let cases = cases();
        let Case { tree, validate, debug, name, .. } = &cases[i];
        prop_assert!(validate(&bytes).is_ok(), "{name}: the generator made an invalid value");
        let value = Value::from_bytes(tree, &bytes).unwrap();
        prop_assert_eq!(value.to_bytes(tree).unwrap(), bytes.clone());
        prop_assert_eq!(value.to_string(), debug(&bytes));
        let json = value.to_json();
        prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok(), "{json}");
        let back = Value::from_json(tree, &json).unwrap_or_else(|e| panic!("{name}: {e}\n{json}"));
        prop_assert_eq!(back.to_bytes(tree).unwrap(), bytes);
        prop_assert_eq!(back.to_json(), json);
    }

    /// Any bytes: read without error exactly when `Message::validate` accepts them, and
    /// otherwise with the same field and the same problem.
    #[test]
    fn reading_checks_what_validate_checks((i, bytes) in case_and_any_bytes()) {
        let cases = cases();
        let Case { tree, validate, name, .. } = &cases[i];
        match (validate(&bytes), Value::from_bytes(tree, &bytes)) {
            (Ok(()), Ok(v)) => prop_assert_eq!(v.to_bytes(tree).unwrap(), bytes),
            (Err(want), Err(got)) => {
                let path = if want.field().is_empty() {
                    tree.name().to_owned()
                } else if want.field().starts_with('[') {
                    format!("{}{}", tree.name(), want.field())
                } else {
                    format!("{}.{}", tree.name(), want.field())
                };
                prop_assert_eq!(got.path(), path, "{}", name);
                prop_assert!(want.to_string().ends_with(&format!(": {}", got.problem())), "{want} / {got}");
            }
            (want, got) => prop_assert!(false, "{name}: validate {want:?}, read {got:?}"),
        }
    }

    /// Strings as serde_json writes them (every escape) read back as the same text.
    #[test]
    fn json_strings_from_serde_json_read_back(s in "\\PC{0,40}|[\\u{1}-\\u{1f}\"\\\\/]{0,8}") {
        let tree = SchemaTree::of::<FixedStr<200>>().unwrap();
        let value = Value::from_json(&tree, &serde_json::to_string(&s).unwrap()).unwrap();
        prop_assert_eq!(value, Value::Str(s));
    }
}

fn order_tree() -> SchemaTree {
    SchemaTree::of::<Order>().unwrap()
}

const LEG: &str = r#"{"price": 1.5, "qty": 10, "side": "A", "flag": true}"#;

/// A valid `Order` with `edit` applied to its JSON text.
fn order_json(edit: impl Fn(&str) -> String) -> String {
    edit(&format!(
        r#"{{"id": 7, "legs": [{LEG}, {LEG}, {LEG}], "symbol": "ACME", "note": "n",
            "kind": "B", "level": "A"}}"#
    ))
}

fn json_error(json: &str) -> String {
    Value::from_json(&order_tree(), json)
        .unwrap_err()
        .to_string()
}

#[test]
fn json_with_padding_left_out_gives_the_message() {
    let tree = order_tree();
    let bytes = Value::from_json(&tree, &order_json(|s| s.to_owned()))
        .unwrap()
        .to_bytes(&tree)
        .unwrap();
    let order: Order = ipc::from_bytes(&bytes).unwrap();
    assert_eq!(
        (order.id, order.legs[2].qty, order.symbol.as_str()),
        (7, 10, "ACME")
    );
    assert_eq!(order._pad, [0; 2]);
}

#[test]
fn every_kind_of_bad_json_names_the_field() {
    let cases: [(&str, String); 17] = [
        (
            "70000 in a u32 is fine",
            order_json(|s| s.replace(r#""id": 7"#, r#""id": 70000"#)),
        ),
        (
            "out of range",
            order_json(|s| s.replacen(r#""qty": 10"#, r#""qty": 4294967296"#, 1)),
        ),
        (
            "negative",
            order_json(|s| s.replace(r#""id": 7"#, r#""id": -7"#)),
        ),
        (
            "not an integer",
            order_json(|s| s.replace(r#""id": 7"#, r#""id": 7.5"#)),
        ),
        (
            "exponent",
            order_json(|s| s.replace(r#""id": 7"#, r#""id": 7e2"#)),
        ),
        (
            "wrong type",
            order_json(|s| s.replace(r#""id": 7"#, r#""id": "7""#)),
        ),
        (
            "unknown variant",
            order_json(|s| s.replace(r#""kind": "B""#, r#""kind": "D""#)),
        ),
        (
            "unknown field",
            order_json(|s| s.replace(r#""id": 7"#, r#""id": 7, "colour": 1"#)),
        ),
        (
            "missing field",
            order_json(|s| s.replace(r#""note": "n","#, "")),
        ),
        (
            "twice",
            order_json(|s| s.replace(r#""id": 7"#, r#""id": 7, "id": 8"#)),
        ),
        (
            "too long",
            order_json(|s| s.replace("ACME", "ACME Corporation")),
        ),
        ("NUL", order_json(|s| s.replace("ACME", "AC\\u0000ME"))),
        (
            "array length",
            order_json(|s| s.replacen(&format!("{LEG}, "), "", 1)),
        ),
        (
            "char",
            order_json(|s| s.replace(r#""note": "n""#, r#""note": "no""#)),
        ),
        ("bool", order_json(|s| s.replacen("true", "1", 1))),
        ("float range", order_json(|s| s.replacen("1.5", "1e400", 1))),
        ("syntax", order_json(|s| s.replacen("1.5", "1.", 1))),
    ];
    let want = [
        "",
        "`Order.legs[0].qty`: 4294967296 does not fit in u32",
        "`Order.id`: -7 does not fit in u64",
        "`Order.id`: 7.5 is not an integer",
        "`Order.id`: 7e2 is not an integer",
        "`Order.id`: expected u64, found the string \"7\"",
        "`Order.kind`: `D` is not a variant of `E32` (A, B, C)",
        "`Order.colour`: `Order` has no such field (it has id, legs, symbol, note, kind, level, _pad)",
        "`Order.note`: missing (of type char)",
        "`Order.id`: given twice",
        "`Order.symbol`: string of 16 bytes does not fit FixedStr<12>",
        "`Order.symbol`: string has a NUL byte at 2; a FixedStr ends at its first NUL",
        "`Order.legs`: 2 elements where the array has 3",
        "`Order.note`: expected a char (a string of one character), found the string \"no\"",
        "`Order.legs[0].flag`: expected bool, found the number 1",
        "`Order.legs[0].price`: 1e400 does not fit in f64",
        "not JSON at line 1, column 32: expected a digit after `.`, found ','",
    ];
    for ((what, json), want) in cases.iter().zip(want) {
        match Value::from_json(&order_tree(), json) {
            Ok(_) => assert_eq!(want, "", "{what}: accepted"),
            Err(e) => assert_eq!(e.to_string(), want, "{what}"),
        }
    }
    assert!(matches!(
        Value::from_json(&order_tree(), "[]").unwrap_err().problem(),
        ValueProblem::Type { .. }
    ));
    assert_eq!(
        json_error("{"),
        "not JSON at line 1, column 2: expected a string key, found the end"
    );
}

#[test]
fn numbers_are_read_at_their_full_width() {
    let tree = SchemaTree::of::<schema_types::Wide>().unwrap();
    let json = format!(r#"{{"a": {}, "b": {}, "c": [0, 1]}}"#, u128::MAX, i128::MIN);
    let bytes = Value::from_json(&tree, &json)
        .unwrap()
        .to_bytes(&tree)
        .unwrap();
    let wide: schema_types::Wide = ipc::from_bytes(&bytes).unwrap();
    assert_eq!((wide.a, wide.b, wide.c), (u128::MAX, i128::MIN, [0, 1]));
    let over = format!(r#"{{"a": 1{}, "b": 0, "c": [0, 1]}}"#, u128::MAX);
    assert_eq!(
        Value::from_json(&tree, &over).unwrap_err().to_string(),
        format!("`Wide.a`: 1{} does not fit in u128", u128::MAX)
    );
    // An f32 is rounded once, from the text.
    let q = SchemaTree::of::<schema_types::QuoteV2>().unwrap();
    let v = Value::from_json(&q, r#"{"bid": 16777217, "ask": "-Infinity"}"#).unwrap();
    assert_eq!(v.to_string(), "market.Quote { bid: 16777216.0, ask: -inf }");
    assert_eq!(v.to_json(), r#"{"bid":16777216.0,"ask":"-Infinity"}"#);
}

#[test]
fn values_that_do_not_fit_the_tree_are_refused_with_their_path() {
    let tree = SchemaTree::of::<schema_types::Pair>().unwrap();
    let good = Value::Struct {
        name: "Pair".into(),
        fields: vec![("0".into(), Value::U32(1)), ("1".into(), Value::I32(-1))],
    };
    assert_eq!(good.to_string(), "Pair(1, -1)");
    assert_eq!(
        good.to_bytes(&tree).unwrap(),
        ipc::as_bytes(&schema_types::Pair(1, -1))
    );
    let narrow = Value::Struct {
        name: "Pair".into(),
        fields: vec![("0".into(), Value::U16(1)), ("1".into(), Value::I32(-1))],
    };
    assert_eq!(
        narrow.to_bytes(&tree).unwrap_err().to_string(),
        "`Pair.0`: expected u32, found u16 1"
    );
    let other = Value::Struct {
        name: "Other".into(),
        fields: vec![],
    };
    assert_eq!(
        other.to_bytes(&tree).unwrap_err().to_string(),
        "`Pair`: expected Pair, found struct `Other`"
    );
    let extra = Value::Struct {
        name: "Pair".into(),
        fields: vec![
            ("0".into(), Value::U32(1)),
            ("1".into(), Value::I32(-1)),
            ("2".into(), Value::I32(-1)),
        ],
    };
    assert_eq!(
        extra.to_bytes(&tree).unwrap_err().to_string(),
        "`Pair.2`: `Pair` has no such field (it has 0, 1)"
    );
    let bytes = Value::from_bytes(&tree, &[0; 7]).unwrap_err();
    assert_eq!(bytes.to_string(), "`Pair`: 7 bytes where the type has 8");
}
