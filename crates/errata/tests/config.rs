//! The gateway config is validated up front, every problem with its line and the fix.

use std::path::Path;

use errata::config::Config;

#[test]
fn every_problem_is_reported_with_its_line() {
    let src = r#"listen = "localhost"
upstream = "ftp://example.com"
store = "mysql://db"
key_prefix = "Klyr_"
trusted_proxies = ["10.0.0.0/33"]
key_headers = ["cookie"]

[limits]
default_plan = "gold"

[plans.free]
rate = 0

[[routes]]
path = "v1"
methods = ["FETCH"]
plans = ["platinum"]
feature = "teleport"
"#;
    let out = Config::from_toml(src, Path::new("."))
        .unwrap_err()
        .render("errata.toml");
    for expected in [
        "errata.toml:1:10: error: `localhost` is not a socket address",
        "errata.toml:2:12: error: upstream `ftp://example.com` is not an http:// URL",
        "errata.toml:3:9: error: store `mysql://db` is not a sqlite: or postgres:// URL",
        "errata.toml:4:14: error: key_prefix `Klyr_` must be 1 to 16 lower-case letters or digits",
        "errata.toml:5:20: error: trusted proxy `10.0.0.0/33` is not an IP address or CIDR",
        "errata.toml:6:16: error: `cookie` is not a key header errata reads",
        "errata.toml:9:16: error: default_plan `gold` is not defined",
        "errata.toml:11:1: error: plan `free` has a zero rate or window",
        "errata.toml:15:8: error: route path `v1` must start with /",
        "errata.toml:16:12: error: `FETCH` is not an HTTP method",
        "errata.toml:17:10: error: route `v1` names plan `platinum`, which is not defined",
        "errata.toml:18:11: error: no plan includes feature `teleport`",
    ] {
        assert!(out.contains(expected), "missing:\n{expected}\nin:\n{out}");
    }
    assert!(out.contains("help: write an IP and a port"));
}

#[test]
fn unknown_keys_and_bad_toml_name_the_line() {
    let out = Config::from_toml(
        "listen = \"127.0.0.1:1\"\nupstreams = \"x\"\n",
        Path::new("."),
    )
    .unwrap_err()
    .render("g.toml");
    assert_eq!(
        out,
        "g.toml:2:1: error: unknown key `upstreams`\n  help: did you mean `upstream`?"
    );
    // A syntax error is one problem: nothing after it can be read.
    let out = Config::from_toml("listen = \nupstrem = 1\n", Path::new("."))
        .unwrap_err()
        .render("g.toml");
    assert_eq!(
        out,
        "g.toml:1:10: error: string values must be quoted, expected literal string\n  help: fix the TOML syntax at this position"
    );
}

/// Four typos and three wrong types, with a wrong value among them: all reported at once, in
/// the order of the file, each with the nearest known name or the type in words.
#[test]
fn typos_and_wrong_types_are_all_reported_in_file_order() {
    let src = r#"listen = 8080
upstrem = "http://127.0.0.1:3000"
key_prefix = "Klyr_"
workers = "2"

[limts]
rate = 10

[limits]
per_second = 60
rate = "many"

[[routes]]
path = "/v1/reports"
scope = ["reports:read"]
methods = "GET"

[failure]
counters = "clsoed"

[admin]
listn = "127.0.0.1:8081"
"#;
    let out = Config::from_toml(src, Path::new("."))
        .unwrap_err()
        .render("errata.toml");
    assert_eq!(
        out,
        r#"errata.toml:1:10: error: `listen` must be a string like "127.0.0.1:8080", not `8080`
  help: e.g. `listen = "127.0.0.1:8080"`
errata.toml:2:1: error: unknown key `upstrem`
  help: did you mean `upstream`?
errata.toml:3:14: error: key_prefix `Klyr_` must be 1 to 16 lower-case letters or digits
  help: keys look like <prefix>_live_<secret>, e.g. key_prefix = "klyr"
errata.toml:4:11: error: `workers` must be a whole number, not `"2"`
  help: e.g. `workers = 2`
errata.toml:6:2: error: unknown section `[limts]`
  help: did you mean `[limits]`?
errata.toml:10:1: error: unknown key `per_second` in [limits]
  help: did you mean `per_seconds`?
errata.toml:11:8: error: `limits.rate` must be a whole number, not `"many"`
  help: e.g. `rate = 100`
errata.toml:15:1: error: unknown key `scope` in [[routes]]
  help: did you mean `scopes`?
errata.toml:16:11: error: `routes.methods` must be a list of strings, not `"GET"`
  help: e.g. `methods = ["GET", "POST"]`
errata.toml:19:12: error: `failure.counters` must be one of "open", "closed", not `"clsoed"`
  help: did you mean "closed"?
errata.toml:22:1: error: unknown key `listn` in [admin]
  help: did you mean `listen`?"#
    );
}

#[test]
fn a_key_far_from_any_known_one_gets_the_list() {
    let out = Config::from_toml(
        "[idempotency]
colour = 1
",
        Path::new("."),
    )
    .unwrap_err()
    .render("errata.toml");
    assert_eq!(
        out,
        "errata.toml:2:1: error: unknown key `colour` in [idempotency]\n  help: remove it; the keys of [idempotency] are: header, in_flight_seconds, max_body_bytes, memory_bytes, ttl_hours"
    );
}

#[test]
fn a_broken_catalog_is_reported_through_the_config() {
    let dir = std::env::temp_dir().join(format!("errata-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bad.toml"), "name = \"x\"\nnmae = \"y\"\n").unwrap();
    std::fs::write(dir.join("errata.toml"), "catalog = \"bad.toml\"\n").unwrap();
    let err = Config::from_file(&dir.join("errata.toml")).unwrap_err();
    let (cfg, bad) = (dir.join("errata.toml"), dir.join("bad.toml"));
    let (cfg, bad) = (cfg.display(), bad.display());
    assert_eq!(
        err,
        format!(
            "{cfg}:1:11: error: catalog `{bad}` is not a valid catalog
  help: fix it (`errata catalog check {bad}`), or point at another
{bad}:2:1: error: unknown key `nmae`
  help: did you mean `name`?
{bad}: error: the catalog has no [envelope]
  help: add an [envelope] with the JSON `body` of every error (docs/catalog-format.md), or start from the built-in catalog with `extends = \"default\"`
{bad}: error: the catalog declares no codes
  help: add [[code]] tables, one per error code"
        )
    );

    // A catalog that extends the built-in one, relative to the config's folder.
    std::fs::write(
        dir.join("acme.toml"),
        "extends = \"default\"\nname = \"Acme\"\n\n[[code]]\ncode = \"campaign_locked\"\nstatus = 409\ntype = \"conflict_error\"\nmessage = \"The campaign is locked.\"\ndescription = \"A report is running on the campaign.\"\nretryable = true\n",
    )
    .unwrap();
    std::fs::write(dir.join("errata.toml"), "catalog = \"acme.toml\"\n").unwrap();
    let cfg = Config::from_file(&dir.join("errata.toml")).unwrap();
    assert_eq!(cfg.gateway.catalog.name(), "Acme");
    assert_eq!(
        cfg.gateway.catalog.code("campaign_locked").unwrap().status,
        409
    );
    assert!(cfg.gateway.catalog.code("missing_api_key").is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_embedded_defaults_need_no_file() {
    let c = Config::embedded();
    assert_eq!(c.gateway.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.admin_listen.to_string(), "127.0.0.1:8081");
    assert_eq!(c.gateway.store_url, "sqlite://errata-keys.db");
    assert_eq!(c.gateway.counters_url, "memory://");
    assert_eq!(c.gateway.catalog.name(), "errata");
    assert_eq!(c.gateway.routes.len(), 1);
    assert!(c.gateway.routes[0].auth);
}

#[test]
fn workers_connections_and_the_head_timeout() {
    let cfg = Config::from_toml(
        "workers = 3\nmax_connections = 500\n[timeouts]\nheader_read_ms = 1500\n",
        Path::new("."),
    )
    .unwrap();
    assert_eq!(cfg.gateway.workers, 3);
    assert_eq!(cfg.gateway.max_connections, 500);
    assert_eq!(
        cfg.gateway.header_read_timeout,
        std::time::Duration::from_millis(1500)
    );

    let defaults = Config::embedded();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(defaults.gateway.workers, cores);
    assert_eq!(defaults.gateway.max_connections, 10_000);
    assert_eq!(
        defaults.gateway.header_read_timeout,
        std::time::Duration::from_secs(30)
    );

    let out = Config::from_toml("workers = 0\nmax_connections = -1\n", Path::new("."))
        .unwrap_err()
        .render("errata.toml");
    for expected in [
        "errata.toml:1:11: error: workers = 0 must be at least 1",
        "errata.toml:2:19: error: max_connections = -1 must be at least 1",
    ] {
        assert!(out.contains(expected), "missing:\n{expected}\nin:\n{out}");
    }
}

#[test]
fn the_key_cache_is_configured_and_checked() {
    let cfg = Config::from_toml(
        "[timeouts]\nkey_cache_ms = 2000\n\n[key_cache]\ncapacity = 5000\nmax_stale_ms = 3000\n",
        Path::new("."),
    )
    .expect("valid");
    assert_eq!(cfg.gateway.key_cache_ttl, std::time::Duration::from_secs(2));
    assert_eq!(cfg.gateway.key_cache_capacity, 5000);
    assert_eq!(
        cfg.gateway.key_cache_max_stale,
        std::time::Duration::from_secs(3)
    );

    let defaults = Config::embedded();
    assert_eq!(defaults.gateway.key_cache_capacity, 100_000);
    assert_eq!(
        defaults.gateway.key_cache_max_stale,
        std::time::Duration::from_secs(5)
    );

    let out = Config::from_toml("[key_cache]\ncapacity = 0\n", Path::new("."))
        .unwrap_err()
        .render("errata.toml");
    assert!(
        out.starts_with("errata.toml:2:12: error: key_cache.capacity 0 is out of range"),
        "{out}"
    );
    assert!(
        out.contains("help: give the most verified keys to keep"),
        "{out}"
    );
}

#[path = "support/certs.rs"]
mod certs;

#[test]
fn tls_settings_name_the_file_and_the_fix() {
    let dir = certs::temp_dir("cfg");
    let ca = certs::TestCa::new("config CA");
    ca.leaf(&["localhost"]).write(&dir, "cert.pem", "key.pem");
    ca.leaf(&["localhost"])
        .write(&dir, "other.pem", "other.key");
    ca.write(&dir, "ca.pem");
    std::fs::write(dir.join("garbage.pem"), "not a certificate\n").unwrap();

    let good = Config::from_toml(
        "upstream = \"https://api.internal:8443\"\nupstream_ca = \"ca.pem\"\n\n[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\n[admin.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n",
        &dir,
    )
    .unwrap();
    let tls = good.gateway.tls.as_ref().unwrap();
    assert_eq!(
        (&tls.cert, &tls.key),
        (&dir.join("cert.pem"), &dir.join("key.pem"))
    );
    assert_eq!(good.admin_tls, good.gateway.tls);
    assert_eq!(good.gateway.upstream_ca, Some(dir.join("ca.pem")));
    assert!(
        Config::embedded().gateway.tls.is_none(),
        "plain HTTP stays the default"
    );

    let src = "upstream = \"http://127.0.0.1:3000\"\nupstream_ca = \"ca.pem\"\nstore = \"postgres://db/k?sslmode=verify-ca&sslrootcert=garbage.pem\"\ncounters = \"rediss://r:6380/?ca=nowhere.pem\"\n\n[tls]\ncert = \"missing.pem\"\nkey = \"key.pem\"\n\n[admin.tls]\ncert = \"cert.pem\"\nkey = \"other.key\"\n";
    let out = Config::from_toml(src, &dir)
        .unwrap_err()
        .render("errata.toml");
    let d = dir.display();
    for expected in [
        "errata.toml:2:15: error: upstream_ca is set but the upstream is not https://".to_owned(),
        format!(
            "errata.toml:3:9: error: store: {d}/garbage.pem: the sslrootcert CA bundle holds no certificate"
        ),
        format!(
            "errata.toml:4:12: error: counters: {d}/nowhere.pem: cannot read the counters `ca` CA bundle"
        ),
        format!("errata.toml:7:8: error: {d}/missing.pem: cannot read the certificate chain"),
        "help: point `cert` at the PEM certificate chain (leaf first)".to_owned(),
        format!(
            "errata.toml:12:7: error: {d}/other.key: the private key does not match the certificate in {d}/cert.pem"
        ),
        "help: use the key the certificate was issued for".to_owned(),
    ] {
        assert!(out.contains(&expected), "missing:\n{expected}\nin:\n{out}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A Redis Cluster URL is read at its line: seeds, no database, `ca` only over TLS.
#[test]
fn redis_cluster_urls_are_checked_at_their_line() {
    let dir = std::env::temp_dir();
    let good = Config::from_toml(
        "counters = \"redis+cluster://:pw@r1:7000,r2:7001,r3:7002?lease_ttl=120\"\n",
        &dir,
    )
    .unwrap_or_else(|d| panic!("{}", d.render("errata.toml")));
    assert_eq!(
        good.gateway.counters_url,
        "redis+cluster://:pw@r1:7000,r2:7001,r3:7002?lease_ttl=120"
    );
    for (counters, expected) in [
        (
            "redis+cluster://r1:7000,r2:7001/3",
            "errata.toml:1:12: error: counters: a Redis Cluster has only database 0; drop `/3` from the URL",
        ),
        (
            "redis+cluster://r1:7000,,r2:7001",
            "errata.toml:1:12: error: counters: `redis+cluster://r1:7000,,r2:7001` lists an empty node: write HOST:PORT,HOST:PORT",
        ),
        (
            "redis+cluster://r1:7000?ca=ca.pem",
            "errata.toml:1:12: error: counters: `ca` is only for TLS connections: use a rediss+cluster:// URL",
        ),
        (
            "valkey://r1:7000",
            "errata.toml:1:12: error: counters `valkey://r1:7000` is not memory:// or a Redis URL",
        ),
    ] {
        let out = Config::from_toml(&format!("counters = \"{counters}\"\n"), &dir)
            .unwrap_err()
            .render("errata.toml");
        assert!(out.contains(expected), "missing:\n{expected}\nin:\n{out}");
    }
}

/// `doc_url` links are absolute: under `public_url` when set (a trailing `/` dropped), else
/// under the listen address, loopback standing for a wildcard one and `https` with TLS.
#[test]
fn the_public_url_is_checked_and_derived_from_the_listen_address() {
    let base = |src: &str| {
        Config::from_toml(src, Path::new("."))
            .unwrap_or_else(|d| panic!("{}", d.render("errata.toml")))
            .gateway
            .public_base()
    };
    assert_eq!(base(""), "http://127.0.0.1:8080");
    assert_eq!(base("listen = \"0.0.0.0:9000\""), "http://127.0.0.1:9000");
    assert_eq!(base("listen = \"[::]:9000\""), "http://[::1]:9000");
    assert_eq!(base("listen = \"[::1]:9000\""), "http://[::1]:9000");
    assert_eq!(
        base("public_url = \"https://api.example.com/\""),
        "https://api.example.com"
    );
    let out = Config::from_toml(
        "listen = \"127.0.0.1:1\"\npublic_url = \"api.example.com\"\n",
        Path::new("."),
    )
    .unwrap_err()
    .render("g.toml");
    assert_eq!(
        out,
        "g.toml:2:14: error: public_url `api.example.com` is not an http:// or https:// URL\n  help: give the address clients call, e.g. \"https://api.example.com\""
    );
}
