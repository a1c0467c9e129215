//! What an upstream sends is arbitrary: reading it as a raise-form body or as an error in the
//! envelope, and rendering what was read, never panics, and a raise the catalog accepts always
//! renders as its code at the code's status.

use errata_core::{Catalog, Format};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// 2000 cases each, or `PROPTEST_CASES` for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// A JSON value up to a few levels deep, with the strings an error body is made of.
fn json_value() -> impl Strategy<Value = Value> {
    let names = prop_oneof![
        Just("code".to_owned()),
        Just("args".to_owned()),
        Just("details".to_owned()),
        Just("path".to_owned()),
        Just("message".to_owned()),
        Just("retry_after".to_owned()),
        "[a-z_]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just("rate_limit_exceeded".to_owned()),
            Just("too_many_campaigns".to_owned()),
            Just("{max}".to_owned()),
            "\\PC{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(names.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Message arguments: the names the codes above need, with values of any kind (or a value
/// that is not an object at all).
fn args() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<u32>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::String),
        json_value(),
    ];
    prop_oneof![
        6 => btree_map(
            prop_oneof![
                Just("max".to_owned()),
                Just("provided".to_owned()),
                Just("resource".to_owned()),
                Just("id".to_owned()),
                Just("retry_after".to_owned()),
                "[a-z]{1,6}",
            ],
            leaf,
            0..6,
        )
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        1 => json_value(),
    ]
}

/// A raise-form body: a known or unknown code, and members of any shape.
fn raise_body() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just(json!("too_many_campaigns")),
            Just(json!("rate_limit_exceeded")),
            Just(json!("resource_not_found")),
            json_value(),
        ],
        args(),
        btree_map(
            prop_oneof![
                Just("variant".to_owned()),
                Just("param".to_owned()),
                Just("details".to_owned()),
                Just("retry_after".to_owned()),
            ],
            prop_oneof![
                any::<u16>().prop_map(Value::from),
                "[a-z_]{1,8}".prop_map(Value::String),
                json_value(),
            ],
            0..2,
        ),
    )
        .prop_map(|(code, args, rest)| {
            let mut m = Map::new();
            m.insert("code".into(), code);
            m.insert("args".into(), args);
            m.extend(rest);
            Value::Object(m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_read_without_panicking(bytes in vec(any::<u8>(), 0..200)) {
        let catalog = Catalog::builtin();
        let _ = catalog.read_raise(&bytes);
        if let Some(parsed) = catalog.parse_body(None, &bytes) {
            let _ = catalog.render_parsed(&parsed, 400, Format::Problem, Some("req_x"), Some("/"), None);
        }
    }

    #[test]
    fn an_accepted_raise_renders_its_code_at_its_status(body in raise_body()) {
        let catalog = Catalog::builtin();
        let bytes = serde_json::to_vec(&body).expect("JSON");
        if let Ok(err) = catalog.read_raise(&bytes) {
            let code = body["code"].as_str().expect("an accepted raise has a string code");
            let def = catalog.code(code).expect("an accepted raise names a catalog code");
            for format in [Format::Envelope, Format::Problem] {
                let out = catalog.render(&err, format);
                prop_assert_eq!(out.status, def.status);
                prop_assert_eq!(&out.code, code);
                let message = if format == Format::Envelope {
                    out.body["error"]["message"].as_str().map(str::to_owned)
                } else {
                    out.body["detail"].as_str().map(str::to_owned)
                };
                // No hole in a message: a placeholder of the template is left in it only
                // where an argument's own value spells it.
                let message = message.expect("a message");
                let template = def.template_for(None, err.variant.as_deref());
                for name in errata_core::template::names(template) {
                    let hole = format!("{{{name}}}");
                    let spelled = err.args.iter().any(|(_, v)| v.to_string().contains(&hole))
                        || err.param.as_deref().is_some_and(|p| p.contains(&hole));
                    prop_assert!(!message.contains(&hole) || spelled, "{}", message);
                }
            }
        }
    }

    #[test]
    fn arbitrary_error_bodies_render_again_without_panicking(
        body in json_value(),
        status in 400u16..600,
        problem in any::<bool>(),
    ) {
        let catalog = Catalog::builtin();
        let bytes = serde_json::to_vec(&json!({"error": body})).expect("JSON");
        let ct = if problem { Some("application/problem+json") } else { None };
        for bytes in [bytes, serde_json::to_vec(&body).expect("JSON")] {
            if let Some(parsed) = catalog.parse_body(ct, &bytes) {
                for format in [Format::Envelope, Format::Problem] {
                    if let Some(out) = catalog.render_parsed(&parsed, status, format, Some("req_x"), Some("/p"), Some(3)) {
                        prop_assert_eq!(out.status, status);
                    }
                }
            }
        }
    }
}
