//! "Handling errors": the reference shows Python and TypeScript examples with the class names
//! the generated SDKs really have for that catalog.

use errata_core::Catalog;

fn kaplaix() -> Catalog {
    Catalog::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../catalogs/kaplaix.toml"
    ))
    .unwrap()
}

#[test]
fn markdown_uses_the_generated_class_names() {
    let md = errata_docs::markdown(&kaplaix()).unwrap();
    assert!(md.contains("- [Handling errors](#page:handling)"));
    assert!(md.contains(
        "from kaplaix import Kaplaix, KaplaixError, KaplaixNetworkError, KaplaixTimeoutError, RateLimitedError"
    ));
    assert!(md.contains(
        r#"import { Kaplaix, KaplaixError, KaplaixNetworkError, KaplaixTimeoutError, RateLimitedError } from "@kaplaix/sdk-ts";"#
    ));
    assert!(md.contains("except RateLimitedError as e:  # RATE_LIMITED"));
    // The default catalog's rate-limit code has its own class name.
    let md = errata_docs::markdown(Catalog::builtin()).unwrap();
    assert!(md.contains("from errata import Errata, ErrataError, ErrataNetworkError, ErrataTimeoutError, RateLimitExceededError"));
}

#[test]
fn html_has_the_same_section() {
    let html = errata_docs::html(&kaplaix()).unwrap();
    assert!(html.contains(r##"<a href="#page:handling">Handling errors</a>"##));
    assert!(html.contains(r#"<section id="page:handling">"#));
    assert!(
        html.contains("} from &quot;@kaplaix/sdk-ts&quot;;")
            || html.contains(r#"} from "@kaplaix/sdk-ts";"#)
    );
    assert!(html.contains("except RateLimitedError as e:  # RATE_LIMITED"));
}
