//! A throwaway Redis Cluster for one test: three masters with one replica each, six
//! `redis-server --cluster-enabled yes` on free ports, joined by `redis-cli --cluster create`.
//! Nodes time out after one second, so a killed master's replica takes over within a few.
//! Without `redis-server` (or `redis-cli`) the test prints `skipped: no redis-server` and
//! passes, except under `CI`, where it fails.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One node: its port and process (none once killed).
pub struct Node {
    pub port: u16,
    child: Option<Child>,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    dir: PathBuf,
    /// Over TLS: the nodes' certificate, key and CA files (clients, replication and the
    /// cluster bus all speak TLS).
    tls: Option<[PathBuf; 3]>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Says the cluster can't be had: fails under CI, else prints and lets the test return.
fn missing(why: &str) -> Option<Cluster> {
    if std::env::var_os("CI").is_some() {
        panic!("redis-server is required under CI: {why}");
    }
    println!("skipped: no redis-server ({why})");
    None
}

/// Six ports, each with its cluster bus port (+10000) free too.
fn free_ports(n: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    let mut held = Vec::new();
    while ports.len() < n {
        let Ok(l) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = l.local_addr().map(|a| a.port()) else {
            continue;
        };
        if port > 55_000 || ports.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            ports.push(port);
            held.push(l);
        }
    }
    ports
}

impl Cluster {
    /// A healthy cluster, every master with an in-sync replica.
    pub fn start() -> Option<Cluster> {
        Cluster::start_with(None)
    }

    /// The same over TLS only, with this certificate (it must name 127.0.0.1), key and CA.
    pub fn start_tls(cert: PathBuf, key: PathBuf, ca: PathBuf) -> Option<Cluster> {
        Cluster::start_with(Some([cert, key, ca]))
    }

    fn start_with(tls: Option<[PathBuf; 3]>) -> Option<Cluster> {
        let dir = std::env::temp_dir().join(format!(
            "errata-cluster-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return missing(&format!("no directory for the nodes: {e}"));
        }
        let mut cluster = Cluster {
            nodes: Vec::new(),
            dir,
            tls,
        };
        for port in free_ports(6) {
            let node_dir = cluster.dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).ok()?;
            let mut server = Command::new("redis-server");
            match &cluster.tls {
                None => server.args(["--port", &port.to_string()]),
                Some([cert, key, ca]) => server
                    .args(["--port", "0", "--tls-port", &port.to_string()])
                    .arg("--tls-cert-file")
                    .arg(cert)
                    .arg("--tls-key-file")
                    .arg(key)
                    .arg("--tls-ca-cert-file")
                    .arg(ca)
                    .args(["--tls-auth-clients", "no", "--tls-cluster", "yes"])
                    .args(["--tls-replication", "yes"]),
            };
            let child = server
                .args(["--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
                // A replica takes over however long it has been cut off from its master.
                .args(["--cluster-replica-validity-factor", "0"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&node_dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            match child {
                Ok(c) => cluster.nodes.push(Node {
                    port,
                    child: Some(c),
                }),
                Err(e) => return missing(&format!("cannot start redis-server: {e}")),
            }
        }
        for n in &cluster.nodes {
            if !wait(Duration::from_secs(10), || {
                cluster.cli(n.port, &["ping"]).is_some()
            }) {
                return missing(&format!("redis-server on {} did not answer", n.port));
            }
        }
        let addrs: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = cluster
            .redis_cli()
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match created {
            Ok(s) if s.success() => {}
            Ok(s) => return missing(&format!("redis-cli --cluster create failed: {s}")),
            Err(e) => return missing(&format!("cannot run redis-cli: {e}")),
        }
        let ready = wait(Duration::from_secs(30), || cluster.healthy());
        assert!(ready, "the cluster did not become healthy within 30 s");
        Some(cluster)
    }

    /// `redis-cli`, over TLS for a TLS cluster.
    fn redis_cli(&self) -> Command {
        let mut c = Command::new("redis-cli");
        if let Some([_, _, ca]) = &self.tls {
            c.arg("--tls").arg("--cacert").arg(ca);
        }
        c
    }

    /// `redis-cli -p PORT ARGS...`'s output, or `None` if it could not run or failed.
    pub fn cli(&self, port: u16, args: &[&str]) -> Option<String> {
        let out = self
            .redis_cli()
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The URL the gateway is given: every node as a seed.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let scheme = if self.tls.is_some() {
            "rediss+cluster"
        } else {
            "redis+cluster"
        };
        format!("{scheme}://{}", seeds.join(","))
    }

    fn live(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.child.is_some())
    }

    /// Every live node sees the cluster as `ok`, three masters serve every slot, and each has
    /// a replica whose link is up and whose copy has caught up.
    pub fn healthy(&self) -> bool {
        let ok = self.live().all(|n| {
            self.cli(n.port, &["cluster", "info"])
                .is_some_and(|i| i.contains("cluster_state:ok"))
        });
        if !ok {
            return false;
        }
        let masters = self.masters();
        masters.len() == 3 && masters.iter().all(|&m| self.replica_in_sync(m))
    }

    /// The ports of the live masters.
    pub fn masters(&self) -> Vec<u16> {
        self.live()
            .filter(|n| {
                self.cli(n.port, &["role"])
                    .is_some_and(|r| r.lines().next() == Some("master"))
            })
            .map(|n| n.port)
            .collect()
    }

    /// Whether a replica of `master` is connected and has everything the master wrote.
    pub fn replica_in_sync(&self, master: u16) -> bool {
        let Some(info) = self.cli(master, &["info", "replication"]) else {
            return false;
        };
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_owned())
        };
        let Some(offset) = field("master_repl_offset:") else {
            return false;
        };
        // slave0:ip=127.0.0.1,port=7001,state=online,offset=1234,lag=0
        field("slave0:")
            .is_some_and(|s| s.contains("state=online") && s.contains(&format!("offset={offset},")))
    }

    /// The port of the master serving `key`'s slot.
    pub fn master_of(&self, key: &str) -> u16 {
        let any = self.live().next().expect("a live node").port;
        let slot: u16 = self
            .cli(any, &["cluster", "keyslot", key])
            .and_then(|s| s.trim().parse().ok())
            .expect("CLUSTER KEYSLOT");
        *self
            .masters()
            .iter()
            .find(|&&m| self.owns(m, slot))
            .expect("a master serves every slot")
    }

    /// Moves the slot of `key`, with its keys, from its master to the master on `to`, as
    /// `redis-cli --cluster reshard` does for one slot: importing/migrating, `MIGRATE` of every
    /// key, then the new owner told to every node. Clients that still send to the old owner get
    /// `MOVED`.
    pub fn move_slot_of(&self, key: &str, to: u16) {
        let from = self.master_of(key);
        assert_ne!(from, to, "the slot is already there");
        let slot = self
            .cli(from, &["cluster", "keyslot", key])
            .expect("CLUSTER KEYSLOT")
            .trim()
            .to_owned();
        let id = |port: u16| {
            self.cli(port, &["cluster", "myid"])
                .expect("CLUSTER MYID")
                .trim()
                .to_owned()
        };
        let (from_id, to_id) = (id(from), id(to));
        let ok = |port: u16, args: &[&str]| {
            let out = self.cli(port, args).unwrap_or_default();
            assert!(
                out.trim() == "OK" || out.trim() == "NOKEY",
                "{args:?}: {out}"
            );
        };
        ok(to, &["cluster", "setslot", &slot, "importing", &from_id]);
        ok(from, &["cluster", "setslot", &slot, "migrating", &to_id]);
        loop {
            let keys = self
                .cli(from, &["cluster", "getkeysinslot", &slot, "100"])
                .expect("CLUSTER GETKEYSINSLOT");
            let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            let to_port = to.to_string();
            let mut args = vec!["migrate", "127.0.0.1", &to_port, "", "0", "5000", "keys"];
            args.extend(keys);
            ok(from, &args);
        }
        for port in [to, from] {
            ok(port, &["cluster", "setslot", &slot, "node", &to_id]);
        }
        let moved = wait(Duration::from_secs(10), || {
            self.masters()
                .iter()
                .all(|&m| self.owns(m, slot.parse().unwrap_or(0)) == (m == to))
        });
        assert!(moved, "slot {slot} moved to {to}");
    }

    /// Kills the node on `port` (SIGKILL: no goodbye to the cluster).
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node of this cluster");
        if let Some(mut c) = node.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether the master on `port` serves `slot`, by its own line of `CLUSTER NODES` (flags
    /// `myself,master`, then its slot ranges from the ninth field on).
    fn owns(&self, port: u16, slot: u16) -> bool {
        let Some(nodes) = self.cli(port, &["cluster", "nodes"]) else {
            return false;
        };
        nodes.lines().any(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            f.len() > 8
                && f[2].contains("myself")
                && f[2].contains("master")
                && f[8..].iter().any(|r| match r.split_once('-') {
                    Some((a, b)) => {
                        a.parse::<u16>().is_ok_and(|a| a <= slot)
                            && b.parse::<u16>().is_ok_and(|b| slot <= b)
                    }
                    None => r.parse::<u16>().is_ok_and(|s| s == slot),
                })
        })
    }

    /// Whether `key` exists on the node on `port` itself (no redirection).
    pub fn holds(&self, port: u16, key: &str) -> bool {
        self.cli(port, &["exists", key])
            .is_some_and(|s| s.trim() == "1")
    }
}

/// Polls `f` every 100 ms until it holds or `within` passes.
pub fn wait(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
