//! The gateway config is validated up front, every problem with its line and the fix.

use std::path::Path;

use errata_gateway::config::Config;

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
    assert!(
        out.starts_with("g.toml:2:1: error: unknown field `upstreams`"),
        "{out}"
    );
    let out = Config::from_toml("listen = \n", Path::new("."))
        .unwrap_err()
        .render("g.toml");
    assert!(out.starts_with("g.toml:1:"), "{out}");
}

#[test]
fn a_broken_catalog_is_reported_through_the_config() {
    let dir = std::env::temp_dir().join(format!("errata-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bad.toml"), "name = \"x\"\n").unwrap();
    std::fs::write(dir.join("errata.toml"), "catalog = \"bad.toml\"\n").unwrap();
    let err = Config::from_file(&dir.join("errata.toml")).unwrap_err();
    assert!(err.contains("errata.toml:1:11: error: catalog"), "{err}");
    assert!(
        err.contains("bad.toml:1:1: error: missing field `envelope`"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_embedded_defaults_need_no_file() {
    let c = Config::embedded();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.admin_listen.to_string(), "127.0.0.1:8081");
    assert_eq!(c.store_url, "sqlite://errata-keys.db");
    assert_eq!(c.counters_url, "memory://");
    assert_eq!(c.catalog.name(), "errata");
    assert_eq!(c.routes.len(), 1);
    assert!(c.routes[0].auth);
}

#[test]
fn workers_connections_and_the_head_timeout() {
    let cfg = Config::from_toml(
        "workers = 3\nmax_connections = 500\n[timeouts]\nheader_read_ms = 1500\n",
        Path::new("."),
    )
    .unwrap();
    assert_eq!(cfg.workers, 3);
    assert_eq!(cfg.max_connections, 500);
    assert_eq!(
        cfg.header_read_timeout,
        std::time::Duration::from_millis(1500)
    );

    let defaults = Config::embedded();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(defaults.workers, cores);
    assert_eq!(defaults.max_connections, 10_000);
    assert_eq!(
        defaults.header_read_timeout,
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
    assert_eq!(cfg.key_cache_ttl, std::time::Duration::from_secs(2));
    assert_eq!(cfg.key_cache_capacity, 5000);
    assert_eq!(cfg.key_cache_max_stale, std::time::Duration::from_secs(3));

    let defaults = Config::embedded();
    assert_eq!(defaults.key_cache_capacity, 100_000);
    assert_eq!(
        defaults.key_cache_max_stale,
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
