//! A catalog that extends the built-in one or another file: what it overrides, what it adds,
//! where the problems of each file are reported, and cycles refused.

use std::path::PathBuf;

use errata_core::{ApiError, Catalog, Condition, Format, check, check_file};

/// A fresh folder holding `files`.
fn folder(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("errata-extends-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (file, src) in files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, src).unwrap();
    }
    dir
}

const TWO_CODES: &str = r#"extends = "default"
name = "Acme"
doc_url = "https://docs.acme.dev/errors"

[[code]]
code = "too_many_widgets"
status = 400
type = "invalid_request_error"
message = "Maximum of {max} widgets per order. You provided {provided}."
description = "An order holds more widgets than allowed."
retryable = false
args = { max = 20, provided = 25 }

[[code]]
code = "campaign_locked"
status = 409
type = "conflict_error"
message = "The campaign is locked while a report runs."
description = "A report is running on the campaign."
retryable = true
"#;

#[test]
fn two_codes_over_the_builtin_catalog() {
    let dir = folder("two", &[("acme.toml", TWO_CODES)]);
    let (catalog, diags) = check_file(&dir.join("acme.toml"));
    assert_eq!(diags.render("acme.toml"), "");
    let c = catalog.expect("loads");
    let builtin = Catalog::builtin();
    assert_eq!(c.name(), "Acme");
    assert_eq!(c.doc_url(), Some("https://docs.acme.dev/errors"));
    assert_eq!(c.codes().len(), builtin.codes().len() + 2);
    // The built-in codes come first, in their order; the file's own after them.
    assert_eq!(c.codes()[0].code, builtin.codes()[0].code);
    assert_eq!(c.codes()[builtin.codes().len()].code, "too_many_widgets");
    // Conditions answer as in the built-in catalog, in this catalog's own envelope and links.
    assert_eq!(c.code_for(Condition::MissingKey).code, "missing_api_key");
    let out = c.render(
        &ApiError::code("too_many_widgets")
            .arg("max", 20)
            .arg("provided", 25)
            .request_id("req_1"),
        Format::Envelope,
    );
    assert_eq!(out.status, 400);
    assert_eq!(
        out.body["error"]["message"],
        "Maximum of 20 widgets per order. You provided 25."
    );
    assert_eq!(
        out.body["error"]["doc_url"],
        "https://docs.acme.dev/errors#too_many_widgets"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_code_of_the_same_name_replaces_the_base_definition_whole() {
    let src = r#"extends = "default"

[[code]]
code = "rate_limit_exceeded"
status = 429
type = "throttled"
message = "Slow down: retry in {retry_after} seconds."
description = "Too many requests."
retryable = true
conditions = ["rate_limited"]
args = { retry_after = 30 }
"#;
    let (catalog, diags) = check(src);
    assert_eq!(diags.render("mine.toml"), "");
    let c = catalog.unwrap();
    let builtin = Catalog::builtin();
    assert_eq!(c.codes().len(), builtin.codes().len());
    let at = builtin
        .codes()
        .iter()
        .position(|d| d.code == "rate_limit_exceeded")
        .unwrap();
    assert_eq!(
        c.codes()[at].code,
        "rate_limit_exceeded",
        "in the base's place"
    );
    assert_eq!(c.codes()[at].kind, "throttled");
    assert_eq!(
        c.codes()[at].title,
        None,
        "nothing of the base's definition is kept"
    );
    assert_eq!(
        c.name(),
        "errata",
        "what the file does not give is the base's"
    );
    let out = c.render(
        &ApiError::condition(Condition::RateLimited).retry_after(3),
        Format::Envelope,
    );
    assert_eq!(
        out.body["error"]["message"],
        "Slow down: retry in 3 seconds."
    );
}

#[test]
fn a_condition_mapped_here_is_taken_from_the_base_code() {
    let src = r#"extends = "default"

[[code]]
code = "slow_down"
status = 429
type = "rate_limit_error"
message = "Slow down."
description = "Too many requests."
retryable = true
conditions = ["rate_limited", "concurrency_exceeded"]
"#;
    let (catalog, diags) = check(src);
    assert_eq!(diags.render("mine.toml"), "");
    let c = catalog.unwrap();
    assert_eq!(c.code_for(Condition::RateLimited).code, "slow_down");
    assert_eq!(c.code_for(Condition::ConcurrencyExceeded).code, "slow_down");
    assert!(c.code("rate_limit_exceeded").unwrap().conditions.is_empty());
    assert_eq!(c.code_for(Condition::QuotaExceeded).code, "quota_exceeded");
}

#[test]
fn a_replaced_code_that_drops_its_conditions_says_where_they_went() {
    let src = r#"extends = "default"

[[code]]
code = "invalid_api_key"
status = 401
type = "authentication_error"
message = "That key is not ours."
description = "The key is unknown."
retryable = false
"#;
    let (catalog, diags) = check(src);
    assert!(catalog.is_none());
    assert_eq!(
        diags.render("mine.toml"),
        "mine.toml: error: 2 conditions are not mapped to any code: malformed_key (401), unknown_key (401)\n  help: map each to a code whose status it allows, with `conditions = [...]` in that [[code]] (the table in docs/catalog-format.md#conditions); `invalid_api_key` answered malformed_key, unknown_key in the catalog this one extends: list them in the `conditions` of this file's `invalid_api_key`"
    );
}

#[test]
fn a_small_catalog_of_its_own_gets_one_error_for_unmapped_conditions() {
    let src = TWO_CODES.replace("extends = \"default\"\n", "")
        + "\n[envelope]\nbody = '{\"error\": {\"code\": \"{code}\", \"message\": \"{message}\"}}'\n";
    let (catalog, diags) = check(&src);
    assert!(catalog.is_none());
    let names: Vec<String> = Condition::ALL
        .iter()
        .map(|c| format!("{} ({})", c.name(), c.statuses()[0]))
        .collect();
    assert_eq!(
        diags.render("acme.toml"),
        format!(
            "acme.toml: error: {} conditions are not mapped to any code: {}\n  help: map each to a code whose status it allows, with `conditions = [...]` in that [[code]] (the table in docs/catalog-format.md#conditions), or start from the built-in catalog with `extends = \"default\"`, which maps them all",
            Condition::ALL.len(),
            names.join(", ")
        )
    );
}

#[test]
fn a_chain_of_files_relative_to_each_other_with_problems_named_by_file() {
    let dir = folder(
        "chain",
        &[
            (
                "api/acme.toml",
                "extends = \"../shared/base.toml\"\nname = \"Acme\"\n\n[[code]]\ncode = \"gone\"\nstatus = 410\ntype = \"gone\"\nmessage = \"Gone.\"\ndescription = \"It is gone.\"\nretryable = false\nretriable = true\n",
            ),
            (
                "shared/base.toml",
                "extends = \"default\"\n\n[[code]]\ncode = \"teapot\"\nstatus = 418\ntype = \"fun\"\nmessage = \"I am a {vessel}.\"\ndescription = \"Short and stout.\"\nretryable = false\n",
            ),
        ],
    );
    let (catalog, diags) = check_file(&dir.join("api/acme.toml"));
    assert!(catalog.is_none());
    let base = dir.join("api/../shared/base.toml");
    assert_eq!(
        diags.render("api/acme.toml"),
        format!(
            "api/acme.toml:11:1: error: unknown key `retriable` in [[code]]\n  help: did you mean `retryable`?\n{}:7:19: error: template argument `{{vessel}}` in the message of `teapot` is not declared\n  help: declare it with an example: `args = {{ vessel = ... }}`",
            base.display()
        )
    );

    // Fixed, the three layers make one catalog.
    std::fs::write(
        dir.join("shared/base.toml"),
        "extends = \"default\"\n\n[[code]]\ncode = \"teapot\"\nstatus = 418\ntype = \"fun\"\nmessage = \"I am a teapot.\"\ndescription = \"Short and stout.\"\nretryable = false\n",
    )
    .unwrap();
    let src = std::fs::read_to_string(dir.join("api/acme.toml")).unwrap();
    std::fs::write(
        dir.join("api/acme.toml"),
        src.replace("retriable = true\n", ""),
    )
    .unwrap();
    let c = Catalog::from_file(dir.join("api/acme.toml")).unwrap();
    assert_eq!(c.name(), "Acme");
    assert!(c.code("teapot").is_some() && c.code("gone").is_some());
    assert!(c.code("missing_api_key").is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_cycle_is_refused_where_it_closes() {
    let dir = folder(
        "cycle",
        &[
            ("a.toml", "extends = \"b.toml\"\nname = \"A\"\n"),
            ("b.toml", "name = \"B\"\nextends = \"a.toml\"\n"),
            ("self.toml", "extends = \"./self.toml\"\n"),
        ],
    );
    let a = dir.join("a.toml");
    let err = Catalog::from_file(&a).unwrap_err();
    assert_eq!(
        err.render("a.toml"),
        format!(
            "{}:2:11: error: `extends` makes a cycle: {} → {} → {}\n  help: a catalog cannot extend itself, directly or through others: remove one of these `extends`",
            dir.join("b.toml").display(),
            a.display(),
            dir.join("b.toml").display(),
            dir.join("a.toml").display(),
        )
    );
    let me = dir.join("self.toml");
    let err = Catalog::from_file(&me).unwrap_err();
    assert_eq!(
        err.render("self.toml"),
        format!(
            "self.toml:1:11: error: `extends` makes a cycle: {} → {}\n  help: a catalog cannot extend itself, directly or through others: remove one of these `extends`",
            me.display(),
            dir.join("./self.toml").display(),
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_base_names_the_path_it_looked_for() {
    let dir = folder(
        "missing",
        &[("a.toml", "name = \"A\"\nextends = \"nowhere.toml\"\n")],
    );
    let err = Catalog::from_file(dir.join("a.toml")).unwrap_err();
    let out = err.render("a.toml");
    assert!(
        out.starts_with(&format!(
            "a.toml:2:11: error: cannot read `{}`, which `extends` names: ",
            dir.join("nowhere.toml").display()
        )),
        "{out}"
    );
    assert!(
        out.ends_with("\n  help: give a catalog file's path relative to this file, or \"default\" for the built-in catalog"),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn without_extends_name_and_envelope_are_required() {
    let (catalog, diags) = check(
        "[[code]]\ncode = \"x\"\nstatus = 500\ntype = \"t\"\nmessage = \"m\"\ndescription = \"d\"\nretryable = false\nconditions = [\"internal_error\"]\n",
    );
    assert!(catalog.is_none());
    let out = diags.render("c.toml");
    assert!(
        out.starts_with("c.toml: error: the catalog has no `name`\n  help: name the API, e.g. `name = \"Klyra\"`, or start from the built-in catalog with `extends = \"default\"`\nc.toml: error: the catalog has no [envelope]\n"),
        "{out}"
    );
}
