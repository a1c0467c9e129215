//! The lint on broken catalogs: every problem reported at once, each with its line and its fix.

use errata_core::check;

fn lint(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/broken/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let src = std::fs::read_to_string(&path).expect("fixture exists");
    let (catalog, diags) = check(&src);
    assert!(catalog.is_none(), "{name} must not load");
    assert!(diags.has_errors());
    diags.render(name)
}

#[test]
fn every_problem_of_a_broken_catalog_is_reported_at_once() {
    let out = lint("many_problems.toml");
    // Each problem with its place in the file.
    for expected in [
        "many_problems.toml:2:11: error: doc_url `https://docs.example.com/errors#top` is not an absolute http(s) URL or a path",
        "many_problems.toml:6:63: error: unknown placeholder `{hnt}` in the envelope body template",
        "many_problems.toml:8:19: error: `message` in null_if_absent is not a placeholder that can be absent",
        "many_problems.toml:11:11: error: unknown request-id charset `base64`",
        "many_problems.toml:12:10: error: request-id length 4 is out of range",
        "many_problems.toml:18:18: error: template argument `{field}` in the message of `bad_request` is not declared",
        "many_problems.toml:21:15: error: condition `malformed_body` does not supply `{field}`, which the message of `bad_request` uses",
        "many_problems.toml:24:8: error: duplicate code `bad_request` (first declared at line 15)",
        "many_problems.toml:33:10: error: invalid status 200 for `all_good`",
        "many_problems.toml:46:15: error: condition `rate_limited` (too many requests in the current window) cannot be answered by `slow_down` with status 400",
        "many_problems.toml:46:31: error: unknown condition `rate_limitted`",
        "many_problems.toml:46:48: error: condition `malformed_body` is mapped twice: to `bad_request` (line 21) and to `slow_down`",
        "many_problems.toml:47:10: warning: argument `unused` of `slow_down` is declared but no message uses it",
        "many_problems.toml: error: 30 conditions are not mapped to any code: missing_key (401), malformed_key (401), unknown_key (401), ",
        ", idempotency_key_in_use (409), idempotency_key_reused (422)\n  help: map each to a code whose status it allows, with `conditions = [...]` in that [[code]] (the table in docs/catalog-format.md#conditions), or start from the built-in catalog with `extends = \"default\"`, which maps them all",
    ] {
        assert!(out.contains(expected), "missing:\n{expected}\n\nin:\n{out}");
    }
    // The fixes are spelled out.
    assert!(out.contains("help: declare it with an example: `args = { field = ... }`"));
    assert!(out.contains("help: map it to a code with status 429, or change this code's status"));
    assert!(out.contains("help: did you mean `rate_limited`?"));
    // Unmapped conditions are one problem, not one per condition.
    assert_eq!(out.matches("not mapped").count(), 1, "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn malformed_toml_names_the_line_and_the_fix() {
    let out = lint("syntax_error.toml");
    insta::assert_snapshot!(out);
    assert!(out.starts_with("syntax_error.toml:10:"), "{out}");
    assert!(out.contains("help: "), "{out}");
}

#[test]
fn unknown_keys_are_named_with_their_line() {
    let out = lint("unknown_field.toml");
    // The misspelt required key is one problem, not also a missing one.
    assert_eq!(
        out,
        "unknown_field.toml:12:1: error: unknown key `retriable` in [[code]]\n  help: did you mean `retryable`?"
    );
}

#[test]
fn invalid_json_in_the_envelope_points_into_the_template() {
    let out = lint("bad_json.toml");
    assert!(
        out.contains(
            "bad_json.toml:9:3: error: the envelope body template is not valid JSON: trailing comma"
        ),
        "{out}"
    );
    assert!(
        out.contains("bad_json.toml:17:17: error: the message of `oops`: `{` opens a placeholder that is never closed"),
        "{out}"
    );
}
