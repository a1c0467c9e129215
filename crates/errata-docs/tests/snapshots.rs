//! Snapshots of the reference pages and the OpenAPI document generated from the built-in
//! catalog. A change to any of them shows up as a reviewable diff of the `.snap` files.

use errata_core::Catalog;

#[test]
fn markdown_reference() {
    insta::assert_snapshot!(errata_docs::markdown(Catalog::builtin()).unwrap());
}

#[test]
fn html_reference() {
    insta::assert_snapshot!(errata_docs::html(Catalog::builtin()).unwrap());
}

#[test]
fn openapi_document() {
    insta::assert_json_snapshot!(errata_docs::openapi(Catalog::builtin()));
}
