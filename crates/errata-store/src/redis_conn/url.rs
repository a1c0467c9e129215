//! The counters URL's Redis forms, read into what the `redis` crate connects with.
//!
//! - `redis://[USER:PASS@]HOST:PORT[/DB]` and `rediss://…` (TLS): one node.
//! - `redis+cluster://[USER:PASS@]HOST:PORT,HOST:PORT,…` and `rediss+cluster://…` (TLS): a
//!   Redis Cluster, reached through any of the listed nodes (the seeds); the client learns the
//!   rest of the topology from them. A cluster has only database 0, so no `/DB`.
//!
//! errata's own settings ride in the query and are taken out before the client sees the URL:
//! `lease_ttl=SECONDS` (how long a concurrency slot is held) and, for TLS, `ca=PATH` (a private
//! CA's PEM). The rest of the query (`protocol=resp3`, …) is passed on to every node.

use std::path::PathBuf;
use std::time::Duration;

/// How a Redis backend connects and holds leases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedisOptions {
    /// How long a concurrency slot is held without being released; a request running longer
    /// loses its slot. Slots of an instance that died are reclaimed after this.
    pub lease_ttl: Duration,
    /// Bound on establishing a connection.
    pub connect_timeout: Duration,
    /// Bound on each command's response.
    pub response_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            lease_ttl: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_millis(500),
        }
    }
}

/// Where a counters URL points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Topology {
    /// One node: the URL as the client takes it.
    Node(String),
    /// A cluster: one client URL per seed node.
    Cluster(Vec<String>),
}

/// A counters URL, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub topology: Topology,
    pub tls: bool,
    pub options: RedisOptions,
    /// `ca=`: the PEM file of a private CA for a TLS server.
    pub ca: Option<PathBuf>,
}

/// The Redis schemes: (over TLS, a cluster) for each.
fn scheme_kind(scheme: &str) -> Option<(bool, bool)> {
    match scheme {
        "redis" => Some((false, false)),
        "rediss" => Some((true, false)),
        "redis+cluster" => Some((false, true)),
        "rediss+cluster" => Some((true, true)),
        _ => None,
    }
}

/// Whether a URL has a Redis scheme, and if so whether it is over TLS: `Some(tls)`.
pub fn redis_tls(url: &str) -> Option<bool> {
    let (scheme, _) = url.split_once("://")?;
    scheme_kind(scheme).map(|(tls, _)| tls)
}

impl Target {
    /// Reads a `redis://`, `rediss://`, `redis+cluster://` or `rediss+cluster://` URL.
    pub fn parse(url: &str) -> Result<Target, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("`{url}` is not a Redis URL"))?;
        let (tls, cluster) = scheme_kind(scheme).ok_or_else(|| {
            format!(
                "unknown scheme `{scheme}://`: use redis://, rediss://, redis+cluster:// or \
                 rediss+cluster://"
            )
        })?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let mut options = RedisOptions::default();
        let mut ca = None;
        let mut passed = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            if pair.is_empty() {
                continue;
            }
            match pair.split_once('=') {
                Some(("lease_ttl", v)) => {
                    let secs: u64 = v
                        .parse()
                        .ok()
                        .filter(|&s| s > 0)
                        .ok_or_else(|| format!("invalid lease_ttl `{v}` (seconds)"))?;
                    options.lease_ttl = Duration::from_secs(secs);
                }
                Some(("ca", v)) => {
                    let path = form_urlencoded::parse(format!("p={v}").as_bytes())
                        .next()
                        .map_or_else(|| v.to_owned(), |(_, p)| p.into_owned());
                    ca = Some(PathBuf::from(path));
                }
                _ => passed.push(pair),
            }
        }
        if ca.is_some() && !tls {
            return Err(format!(
                "`ca` is only for TLS connections: use a {}:// URL",
                if cluster { "rediss+cluster" } else { "rediss" }
            ));
        }
        let query = if passed.is_empty() {
            String::new()
        } else {
            format!("?{}", passed.join("&"))
        };
        let node_scheme = if tls { "rediss" } else { "redis" };
        let topology = if cluster {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            if !(path.is_empty() || path == "0") {
                return Err(format!(
                    "a Redis Cluster has only database 0; drop `/{path}` from the URL"
                ));
            }
            let (userinfo, hosts) = match authority.rsplit_once('@') {
                Some((u, h)) => (format!("{u}@"), h),
                None => (String::new(), authority),
            };
            let mut nodes = Vec::new();
            for host in hosts.split(',') {
                let host = host.trim();
                if host.is_empty() {
                    return Err(format!(
                        "`{url}` lists an empty node: write HOST:PORT,HOST:PORT"
                    ));
                }
                nodes.push(format!("{node_scheme}://{userinfo}{host}/{query}"));
            }
            Topology::Cluster(nodes)
        } else {
            Topology::Node(format!("{scheme}://{rest}{query}"))
        };
        Ok(Target {
            topology,
            tls,
            options,
            ca,
        })
    }

    /// The nodes named, as `HOST:PORT`, for messages (no user or password).
    pub fn describe(&self) -> String {
        let strip = |u: &str| {
            let rest = u.split_once("://").map_or(u, |(_, r)| r);
            let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
        };
        match &self.topology {
            Topology::Node(u) => strip(u),
            Topology::Cluster(nodes) => {
                nodes.iter().map(|n| strip(n)).collect::<Vec<_>>().join(",")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_node_keeps_its_url_without_errata_options() {
        let t = Target::parse("redis://h:6379/0").unwrap();
        assert_eq!(t.topology, Topology::Node("redis://h:6379/0".into()));
        assert_eq!(t.options, RedisOptions::default());
        let t = Target::parse("redis://h/0?lease_ttl=300&protocol=resp3").unwrap();
        assert_eq!(
            t.topology,
            Topology::Node("redis://h/0?protocol=resp3".into())
        );
        assert_eq!(t.options.lease_ttl, Duration::from_secs(300));
        let t = Target::parse("rediss://h:6380/?ca=%2Fetc%2Fca%20x.pem&lease_ttl=9").unwrap();
        assert_eq!(t.topology, Topology::Node("rediss://h:6380/".into()));
        assert!(t.tls);
        assert_eq!(t.ca, Some("/etc/ca x.pem".into()));
        assert_eq!(t.options.lease_ttl, Duration::from_secs(9));
        assert!(Target::parse("redis://h/0?lease_ttl=0").is_err());
        assert!(Target::parse("redis://h/0?lease_ttl=x").is_err());
        assert!(Target::parse("redis://h/0?ca=x.pem").is_err());
    }

    #[test]
    fn a_cluster_url_names_each_seed() {
        let t = Target::parse("redis+cluster://:pw@a:7000,b:7001,[::1]:7002?lease_ttl=5").unwrap();
        assert_eq!(
            t.topology,
            Topology::Cluster(vec![
                "redis://:pw@a:7000/".into(),
                "redis://:pw@b:7001/".into(),
                "redis://:pw@[::1]:7002/".into(),
            ])
        );
        assert_eq!(t.options.lease_ttl, Duration::from_secs(5));
        assert_eq!(t.describe(), "a:7000,b:7001,[::1]:7002");
        let t = Target::parse("rediss+cluster://a:7000/?ca=ca.pem&protocol=resp3").unwrap();
        assert!(t.tls);
        assert_eq!(t.ca, Some("ca.pem".into()));
        assert_eq!(
            t.topology,
            Topology::Cluster(vec!["rediss://a:7000/?protocol=resp3".into()])
        );
    }

    #[test]
    fn schemes_say_whether_they_are_redis_and_over_tls() {
        assert_eq!(redis_tls("redis://h"), Some(false));
        assert_eq!(redis_tls("rediss://h"), Some(true));
        assert_eq!(redis_tls("redis+cluster://a,b"), Some(false));
        assert_eq!(redis_tls("rediss+cluster://a,b"), Some(true));
        assert_eq!(redis_tls("memory://"), None);
        assert_eq!(redis_tls("rediss"), None);
    }

    #[test]
    fn cluster_mistakes_are_named() {
        let e = Target::parse("redis+cluster://a:7000,b:7001/2").unwrap_err();
        assert!(e.contains("only database 0"), "{e}");
        let e = Target::parse("redis+cluster://a:7000,,b:7001").unwrap_err();
        assert!(e.contains("empty node"), "{e}");
        let e = Target::parse("redis+cluster://a:7000?ca=ca.pem").unwrap_err();
        assert!(e.contains("rediss+cluster://"), "{e}");
        let e = Target::parse("valkey://a").unwrap_err();
        assert!(e.contains("unknown scheme"), "{e}");
    }
}
