//! The console's pages over real HTTP on the admin listener: the shell at each of its paths,
//! every asset it names served from the binary with its media type, nothing loaded from
//! another origin, and an unknown asset a catalog 404 like any other unknown path.

mod support;

/// The `src` and `href` values of the shell.
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            if let Some(end) = rest.find('"') {
                out.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
        }
    }
    out
}

#[tokio::test]
async fn the_shell_and_its_assets_come_from_the_binary() {
    let h = support::start("").await;
    let mut shells = Vec::new();
    for path in [
        "/",
        "/console",
        "/console/keys",
        "/console/requests/req_x",
        "/portal",
    ] {
        let res = h
            .http
            .get(format!("{}{path}", h.admin))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(
            res.headers()["content-type"],
            "text/html; charset=utf-8",
            "{path}"
        );
        assert_eq!(res.headers()["cache-control"], "no-cache", "{path}");
        shells.push(res.text().await.unwrap());
    }
    assert!(shells.windows(2).all(|w| w[0] == w[1]), "one shell for all");

    let refs = references(&shells[0]);
    assert_eq!(
        refs,
        [
            "/assets/vendor/chart.umd.min.js",
            "/assets/app.js",
            "/assets/app.css"
        ]
    );
    for r in &refs {
        let res = h.http.get(format!("{}{r}", h.admin)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{r}");
        let media = if r.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            "text/javascript; charset=utf-8"
        };
        assert_eq!(res.headers()["content-type"], media, "{r}");
        assert_eq!(res.headers()["cache-control"], "public, max-age=3600");
        assert!(!res.bytes().await.unwrap().is_empty(), "{r}");
    }

    // The app itself names no other origin to load from.
    let app = h
        .http
        .get(format!("{}/assets/app.js", h.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!app.contains("http://") && !app.contains("https://"));
}

#[tokio::test]
async fn an_unknown_asset_is_a_catalog_404() {
    let h = support::start("").await;
    let res = h
        .http
        .get(format!("{}/assets/nope.js", h.admin))
        .send()
        .await
        .unwrap();
    let (status, headers, body) = support::parts(res).await;
    assert_eq!(status, 404);
    let id = support::request_id(&headers, &body);
    assert_eq!(
        body,
        support::envelope(
            "resource_not_found",
            "not_found_error",
            "No route matches GET /assets/nope.js.",
            &id
        )
    );
}
