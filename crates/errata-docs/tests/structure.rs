//! Structural checks of the generated reference and OpenAPI document, for the built-in catalog and
//! for catalogs written to trip them up (hostile text, another envelope shape):
//!
//! - every code has exactly one anchor and an example response in both Markdown and HTML, and
//!   that example is exactly what errata-core renders for the code;
//! - catalog text is escaped, and the HTML page loads nothing from outside;
//! - the OpenAPI document has a response per status with an example of every code, its schemas
//!   are valid JSON Schema, every example validates against them, and `code` enumerates the
//!   catalog's codes.

use std::collections::BTreeSet;

use errata_core::{ApiError, Catalog, DEFAULT_CATALOG_TOML, Format, Violation, reason_phrase};
use serde_json::{Value, json};

/// The parameter the reference's examples name when a message uses `{param}`.
const EXAMPLE_PARAM: &str = "name";

/// The built-in catalog with its `[envelope]` and `[request_id]` tables replaced.
fn with_envelope(tables: &str) -> Catalog {
    let start = DEFAULT_CATALOG_TOML
        .find("[envelope]")
        .expect("default has an envelope");
    let end = DEFAULT_CATALOG_TOML
        .find("[[code]]")
        .expect("default has codes");
    let src = format!(
        "{}{tables}\n{}",
        &DEFAULT_CATALOG_TOML[..start],
        &DEFAULT_CATALOG_TOML[end..]
    );
    Catalog::from_toml(&src).unwrap_or_else(|d| panic!("test catalog does not lint:\n{d:?}"))
}

/// An envelope in KlayrAI's style (the code under `type`), with text, a constant, no param, no
/// details, and hex request ids.
fn klayr_style() -> Catalog {
    with_envelope(
        r#"
[envelope]
body = '{"error": {"type": "{code}", "message": "{message}", "status": "{status}", "more": "see {doc_url}", "v": 2}}'

[request_id]
header = "x-klayr-request"
prefix = "kl_"
charset = "hex"
length = 16
"#,
    )
}

/// An envelope with top-level fields, `details` written as `null` when absent, a detail entry by
/// pointer and field, and UUID request ids.
fn flat_style() -> Catalog {
    with_envelope(
        r#"
[envelope]
body = '{"code": "{code}", "title": "{title}", "message": "{message}", "details": "{details}", "request_id": "{request_id}"}'
detail = '{"pointer": "{pointer}", "field": "{field}", "issue": "{message}", "code": "{code}"}'
null_if_absent = ["details"]
content_type = "application/vnd.flat+json"

[request_id]
charset = "uuid"
"#,
    )
}

/// The built-in catalog with markup, pipes and quotes in its text.
fn hostile() -> Catalog {
    let src = DEFAULT_CATALOG_TOML
        .replacen(r#"name = "errata""#, r#"name = "<Acme & \"Co\">""#, 1)
        .replacen(
            r#"description = "The default error contract of an API served through errata.""#,
            r#"description = "Errors of <script>alert('name')</script> | the API.""#,
            1,
        )
        .replacen(
            r#"description = "No API key was sent with the request.""#,
            r#"description = "No <img src=x onerror=alert(1)> key | was sent.\nSecond line.""#,
            1,
        )
        .replacen(
            r#"message = "The request could not be parsed.""#,
            r#"message = "Bad </code></pre><script>alert(2)</script> body ```.""#,
            1,
        );
    Catalog::from_toml(&src).unwrap_or_else(|d| panic!("hostile catalog does not lint:\n{d:?}"))
}

fn catalogs() -> Vec<(&'static str, Catalog)> {
    vec![
        ("builtin", Catalog::builtin().clone()),
        ("klayr_style", klayr_style()),
        ("flat_style", flat_style()),
        ("hostile", hostile()),
    ]
}

/// Checks that `response` (as `curl -i` shows it) is exactly errata-core's rendering of `code`
/// with its declared example arguments; param, details, Retry-After and request id are taken
/// from the response itself and checked for plausibility.
fn check_example(catalog: &Catalog, code: &str, response: &str) {
    let def = catalog.code(code).expect("code of the catalog");
    let (head, body) = response
        .split_once("\n\n")
        .unwrap_or_else(|| panic!("{code}: example has no blank line:\n{response}"));
    let body: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{code}: example body is not JSON ({e}):\n{body}"));
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .map(str::to_owned)
    };
    assert_eq!(
        head.lines().next(),
        Some(format!("HTTP/1.1 {} {}", def.status, reason_phrase(def.status)).as_str()),
        "{code}: status line"
    );
    let id = header(&catalog.request_id().header)
        .unwrap_or_else(|| panic!("{code}: example has no request id header"));
    assert!(
        catalog.request_id().matches(&id),
        "{code}: {id} is not in the catalog's request-id format"
    );

    let mut err = ApiError::code(code.to_owned()).request_id(id);
    for (name, value) in &def.args {
        err = err.arg(name.clone(), value.clone());
    }
    if let Some(secs) = header("retry-after") {
        err = err.retry_after(secs.parse().expect("Retry-After is seconds"));
    }
    if def.example_arg("retry_after").is_some() {
        assert!(header("retry-after").is_some(), "{code}: no Retry-After");
    }
    match find_key(&body, "param") {
        Some(Value::String(p)) => err = err.param(p.as_str()),
        Some(_) => {}
        // An envelope without `param` still shows the documented example param in the message.
        None if errata_core::template::names(&def.message).contains(&"param") => {
            err = err.param(EXAMPLE_PARAM);
        }
        None => {}
    }
    if let Some(details) = find_key(&body, "details").filter(|d| !d.is_null()) {
        // Rebuild the violations from the default detail template's fields, or from a pointer.
        let violations: Vec<Violation> = details
            .as_array()
            .expect("details is an array")
            .iter()
            .map(|d| {
                let path = match (&d["path"], d["pointer"].as_str()) {
                    (Value::Array(p), _) => p
                        .iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect(),
                    (_, Some(ptr)) => ptr.split('/').skip(1).map(String::from).collect(),
                    _ => Vec::new(),
                };
                let message = d.get("message").or(d.get("issue")).and_then(Value::as_str);
                Violation::new(
                    path,
                    message.unwrap_or(""),
                    d["code"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert!(!violations.is_empty(), "{code}: empty details");
        err = err.details(violations);
    }
    let expected = catalog.render(&err, Format::Envelope).to_http_string();
    assert_eq!(
        response.trim_end(),
        expected.trim_end(),
        "{code}: example differs"
    );
    let message = catalog.message(&err);
    assert!(
        !message.contains('{') || def.message.contains("{{"),
        "{code}: example message has an unfilled placeholder: {message}"
    );
}

/// The first value under `key` anywhere in a JSON value.
fn find_key<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(map) => map
            .get(key)
            .or_else(|| map.values().find_map(|c| find_key(c, key))),
        Value::Array(items) => items.iter().find_map(|c| find_key(c, key)),
        _ => None,
    }
}

/// The text of the fenced block that follows `from` in Markdown.
fn next_fence(md: &str, from: usize) -> &str {
    let rest = &md[from..];
    let open = rest.find("```").expect("a fenced block follows");
    let fence_len = rest[open..].chars().take_while(|&c| c == '`').count();
    let fence = "`".repeat(fence_len);
    let after = &rest[open..];
    let body_start = after.find('\n').expect("fence line ends") + 1;
    let body_end = after[body_start..]
        .find(&format!("\n{fence}"))
        .expect("fence closes");
    &after[body_start..body_start + body_end]
}

fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[test]
fn markdown_has_an_anchor_and_a_real_example_per_code() {
    for (name, catalog) in catalogs() {
        let md = errata_docs::markdown(&catalog).unwrap();
        for def in catalog.codes() {
            let anchor = format!(r#"<a id="{}"></a>"#, def.code);
            assert_eq!(
                md.matches(&anchor).count(),
                1,
                "{name}: anchor of {}",
                def.code
            );
            let at = md.find(&anchor).expect("anchor found");
            check_example(&catalog, &def.code, next_fence(&md, at));
            assert!(
                md.contains(&format!("(#{})", def.code)),
                "{name}: no link to {}",
                def.code
            );
        }
        for kind in catalog.kinds() {
            assert!(
                md.contains(&format!("<a id=\"type:{kind}\"></a>")),
                "{name}: {kind}"
            );
        }
    }
}

#[test]
fn html_has_an_anchor_and_a_real_example_per_code() {
    for (name, catalog) in catalogs() {
        let html = errata_docs::html(&catalog).unwrap();
        for def in catalog.codes() {
            let id = format!(r#" id="{}""#, def.code);
            assert_eq!(html.matches(&id).count(), 1, "{name}: id of {}", def.code);
            let open = format!(r#"<article class="code" id="{}""#, def.code);
            let at = html
                .find(&open)
                .unwrap_or_else(|| panic!("{name}: no section for {}", def.code));
            let section = &html[at..at + html[at..].find("</article>").expect("closed")];
            let pre = section
                .split(r#"<pre class="example"><code>"#)
                .nth(1)
                .and_then(|s| s.split("</code></pre>").next())
                .unwrap_or_else(|| panic!("{name}: no example for {}", def.code));
            check_example(&catalog, &def.code, &html_unescape(pre));
            assert!(
                html.contains(&format!(r#"<tr data-code="{}""#, def.code)),
                "{name}: no table row for {}",
                def.code
            );
        }
    }
}

#[test]
fn html_is_self_contained() {
    for (name, catalog) in catalogs() {
        let html = errata_docs::html(&catalog).unwrap();
        assert_eq!(html.matches("<style>").count(), 1, "{name}");
        assert_eq!(
            html.matches("<script").count(),
            1,
            "{name}: one inline script"
        );
        assert!(html.contains("<script>\n"), "{name}: the script is inline");
        assert!(!html.contains("<link"), "{name}");
        assert!(!html.contains(" src=\""), "{name}");
        assert!(!html.contains("url("), "{name}");
        assert!(!html.contains("@import"), "{name}");
        for href in html.split("href=\"").skip(1) {
            assert!(href.starts_with('#'), "{name}: external link {href:.40}");
        }
        let filter = html.find(r#"<input id="filter" type="search""#);
        assert!(filter.is_some(), "{name}: filter box");
    }
}

#[test]
fn catalog_text_is_escaped() {
    let catalog = hostile();
    let html = errata_docs::html(&catalog).unwrap();
    assert!(!html.contains("<script>alert"), "script from the catalog");
    assert!(!html.contains("<img"), "markup from the catalog");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("<title>&lt;Acme &amp; &quot;Co&quot;&gt; error reference</title>"));
    // The page's own closing tags are not broken by the message.
    assert_eq!(html.matches("<pre").count(), html.matches("</pre>").count());

    let md = errata_docs::markdown(&catalog).unwrap();
    assert!(!md.contains("<img"), "raw HTML in Markdown text");
    assert!(md.contains("# &lt;Acme & \"Co\"&gt; error reference"));
    let row = md
        .lines()
        .find(|l| l.starts_with("| [`missing_api_key`]"))
        .expect("table row");
    assert!(row.contains(r"key \| was sent. Second line."), "{row}");
    let unescaped_pipes = row.len() - row.replace('|', "").len() - row.matches(r"\|").count();
    assert_eq!(unescaped_pipes, 6, "cells of {row}");
    // A message with backticks gets a longer fence, so its block stays whole.
    let at = md.find(r#"<a id="invalid_request"></a>"#).expect("anchor");
    assert!(md[at..].contains("````http\n"));
}

fn openapi_validator(doc: &Value, schema: &str) -> jsonschema::Validator {
    let mut root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{schema}"),
    });
    root["components"] = doc["components"].clone();
    jsonschema::meta::validate(&doc["components"]["schemas"][schema])
        .unwrap_or_else(|e| panic!("{schema} is not a valid JSON Schema: {e}"));
    jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("{schema}: {e}"))
}

#[test]
fn openapi_has_a_response_per_status_and_every_code() {
    for (name, catalog) in catalogs() {
        let doc = errata_docs::openapi(&catalog);
        let keys: Vec<&String> = doc.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["openapi", "info", "components"], "{name}");
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1."))
        );
        assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

        let codes: Vec<&str> = catalog.codes().iter().map(|c| c.code.as_str()).collect();
        let error = &doc["components"]["schemas"]["Error"];
        let code_schema = find_code_schema(&catalog, error).expect("a code property");
        assert_eq!(code_schema["enum"], json!(codes), "{name}: Error code enum");
        assert_eq!(
            doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"],
            json!(codes),
            "{name}: Problem code enum"
        );

        let statuses: BTreeSet<u16> = catalog.codes().iter().map(|c| c.status).collect();
        let responses = doc["components"]["responses"]
            .as_object()
            .expect("responses");
        let names: BTreeSet<String> = statuses.iter().map(|s| format!("Error{s}")).collect();
        assert_eq!(
            responses.keys().cloned().collect::<BTreeSet<_>>(),
            names,
            "{name}"
        );

        let envelope_type = &catalog.envelope().content_type;
        let error_v = openapi_validator(&doc, "Error");
        let problem_v = openapi_validator(&doc, "Problem");
        assert!(
            !error_v.is_valid(&json!({})),
            "{name}: Error accepts anything"
        );
        assert!(
            !problem_v.is_valid(&json!({})),
            "{name}: Problem accepts anything"
        );
        let first = &catalog.codes()[0];
        let status = format!("Error{}", first.status);
        let sample = &doc["components"]["responses"][&status]["content"][envelope_type]["examples"]
            [&first.code]["value"];
        let unknown = serde_json::to_string(sample).expect("JSON").replacen(
            &format!("\"{}\"", first.code),
            "\"no_such_code\"",
            1,
        );
        let unknown: Value = serde_json::from_str(&unknown).expect("JSON");
        assert!(
            !error_v.is_valid(&unknown),
            "{name}: Error accepts an unknown code"
        );
        for status in statuses {
            let r = &responses[&format!("Error{status}")];
            let want: BTreeSet<&str> = catalog
                .codes()
                .iter()
                .filter(|c| c.status == status)
                .map(|c| c.code.as_str())
                .collect();
            for (media, validator) in [
                (envelope_type.as_str(), &error_v),
                ("application/problem+json", &problem_v),
            ] {
                let examples = r["content"][media]["examples"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{name}: {status} has no {media} examples"));
                let got: BTreeSet<&str> = examples.keys().map(String::as_str).collect();
                assert_eq!(got, want, "{name}: {status} {media} examples");
                for (code, ex) in examples {
                    let errors: Vec<String> = validator
                        .iter_errors(&ex["value"])
                        .map(|e| e.to_string())
                        .collect();
                    assert!(errors.is_empty(), "{name}: {code} as {media}: {errors:?}");
                }
            }
            let headers = r["headers"].as_object().expect("headers");
            assert!(
                headers.contains_key(&catalog.request_id().header),
                "{name}: {status}"
            );
            if matches!(status, 429 | 503) {
                assert!(headers.contains_key("Retry-After"), "{name}: {status}");
            }
            for h in headers.values() {
                let target = h["$ref"].as_str().and_then(|r| r.strip_prefix("#/"));
                let resolved = target.map(|t| doc.pointer(&format!("/{t}")));
                assert!(matches!(resolved, Some(Some(_))), "{name}: {h}");
            }
        }
    }
}

/// The schema of the envelope value that carries the error's code.
fn find_code_schema<'a>(catalog: &Catalog, schema: &'a Value) -> Option<&'a Value> {
    let first = catalog.codes().first()?.code.as_str();
    if schema["enum"]
        .as_array()
        .is_some_and(|e| e.contains(&json!(first)))
    {
        return Some(schema);
    }
    schema["properties"]
        .as_object()?
        .values()
        .find_map(|s| find_code_schema(catalog, s))
}

#[test]
fn openapi_schema_follows_each_envelope() {
    let doc = errata_docs::openapi(&klayr_style());
    let error = &doc["components"]["schemas"]["Error"]["properties"]["error"];
    assert!(
        error["properties"]["type"]["enum"].is_array(),
        "code under `type`"
    );
    assert_eq!(error["properties"]["v"]["const"], 2);
    assert_eq!(error["properties"]["more"]["type"], "string");
    assert_eq!(error["properties"]["status"]["type"], "integer");
    assert!(error["properties"].get("param").is_none());

    let doc = errata_docs::openapi(&flat_style());
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(
        error["properties"]["details"]["type"],
        json!(["array", "null"])
    );
    let item = &error["properties"]["details"]["items"]["properties"];
    assert!(item["pointer"].is_object() && item["issue"].is_object());
    let required = error["required"].as_array().expect("required");
    assert!(required.contains(&json!("details")));
    assert!(!required.contains(&json!("request_id")));
    let content = doc["components"]["responses"]["Error422"]["content"]
        .as_object()
        .expect("content");
    assert!(content.contains_key("application/vnd.flat+json"));
}
