//! Talks to an errata gateway and prints the outcome, or the typed error with its request id.
//!
//! ```text
//! ERRATA_URL=http://127.0.0.1:8080 ERRATA_KEY=sk_test_... \
//!     cargo run -p errata-client --example demo -- GET /v1/campaigns
//! cargo run -p errata-client --example demo -- POST /v1/reports '{"campaign_ids": ["camp_1"]}'
//! ```
//!
//! Optional: `ERRATA_CATALOG` (the gateway's catalog file, default: the built-in catalog) and
//! `ERRATA_KEY_HEADER` (a header such as `x-api-key` instead of `Authorization: Bearer`).

use std::process::ExitCode;

use errata_client::{Auth, Client, Error, Method};
use serde_json::Value;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let method = args.next().unwrap_or_else(|| "GET".into());
    let path = args.next().unwrap_or_else(|| "/v1/campaigns".into());
    let body = args.next();

    let url = std::env::var("ERRATA_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let mut builder = Client::builder(&url);
    if let Ok(key) = std::env::var("ERRATA_KEY") {
        builder = builder.api_key(key);
    }
    if let Ok(header) = std::env::var("ERRATA_KEY_HEADER") {
        builder = builder.auth(Auth::Header(header));
    }
    if let Ok(catalog) = std::env::var("ERRATA_CATALOG") {
        builder = builder.catalog_file(catalog);
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot build the client: {e}");
            return ExitCode::from(2);
        }
    };

    let Ok(method) = method.to_ascii_uppercase().parse::<Method>() else {
        eprintln!("not an HTTP method: {method}");
        return ExitCode::from(2);
    };
    let mut request = client.request(method.clone(), &path);
    if let Some(body) = body {
        match serde_json::from_str::<Value>(&body) {
            Ok(json) => request = request.json(&json),
            Err(e) => {
                eprintln!("the body is not JSON: {e}");
                return ExitCode::from(2);
            }
        }
    }

    println!("{method} {url}{path}");
    match request.send_response().await {
        Ok(res) => {
            println!(
                "{} after {} attempt(s), request id {}",
                res.status(),
                res.attempts(),
                res.request_id().unwrap_or("-")
            );
            match res.json::<Value>() {
                Ok(v) if !v.is_null() => println!("{v:#}"),
                _ => println!("{}", res.text()),
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            report(&err);
            ExitCode::FAILURE
        }
    }
}

fn report(err: &Error) {
    eprintln!("error: {err}");
    match err {
        Error::Api(api) => {
            eprintln!("  status:     {}", api.status());
            eprintln!(
                "  code:       {}",
                api.code().unwrap_or("(not in the catalog)")
            );
            eprintln!("  type:       {}", api.kind().unwrap_or("-"));
            if let Some(param) = api.param() {
                eprintln!("  param:      {param}");
            }
            if let Some(details) = api.details() {
                eprintln!("  details:    {details}");
            }
            if let Some(wait) = api.retry_after() {
                eprintln!("  retry after {wait:?}");
            }
            if let Some(doc) = api.doc_url() {
                eprintln!("  docs:       {doc}");
            }
            if let Some(raw) = api.raw_body() {
                let raw: String = raw.chars().take(200).collect();
                eprintln!("  raw body:   {raw:?}");
            }
        }
        Error::Network(net) if net.is_connect() => {
            eprintln!("  is a gateway listening there? (ERRATA_URL)");
        }
        _ => {}
    }
    eprintln!(
        "  request id: {}   attempts: {}   retryable: {}",
        err.request_id().unwrap_or("-"),
        err.attempts(),
        err.is_retryable()
    );
}
