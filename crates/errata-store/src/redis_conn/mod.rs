//! The connection the Redis counters and idempotency records share: one node or a Redis
//! Cluster, behind one type, so the scripts are written once.
//!
//! **One node** goes through the `redis` crate's connection manager (it reconnects by itself).
//! **A cluster** goes through the crate's cluster client: it reads the slot map from any seed,
//! sends each command to the master of its key's slot, follows `MOVED` and `ASK`, refreshes the
//! map when a redirection or a lost node says it changed, and reconnects to nodes it lost.
//! Every script errata runs names only keys under one hash tag (an API key's, a tenant's or an
//! idempotency scope's: `errata:{subject}:…`), so each one lands on one master and stays one
//! round trip.
//!
//! **Scripts** are sent as `EVALSHA`; a node that doesn't have one yet (new, restarted, or a
//! replica just promoted) answers `NOSCRIPT` and gets the body once with `EVAL`, which also
//! caches it there. Nothing is loaded on all nodes at once, so a node being down never blocks
//! a script on the others.
//!
//! **Per worker.** Each gateway worker is a single-threaded runtime; a connection's I/O runs as
//! a task on the runtime that made it, so every worker makes its own on first use (a check
//! never crosses threads) and everything else uses the one made at start.

mod url;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, ToRedisArgs, Value};

pub use url::RedisOptions;
pub(crate) use url::{Target, Topology, redis_tls};

/// A connection to one Redis node or to a Redis Cluster. Cheap to clone (clones share the
/// connection).
#[derive(Clone)]
pub(crate) enum Conn {
    Node(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Node(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Node(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Node(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// How new connections are made.
#[derive(Clone)]
enum Maker {
    Node(redis::Client, ConnectionManagerConfig),
    Cluster(ClusterClient),
}

impl Maker {
    async fn connect(&self) -> RedisResult<Conn> {
        match self {
            Maker::Node(client, config) => {
                ConnectionManager::new_with_config(client.clone(), config.clone())
                    .await
                    .map(Conn::Node)
            }
            Maker::Cluster(client) => client.get_async_connection().await.map(Conn::Cluster),
        }
    }
}

/// A Redis reached through a counters URL, with a connection per worker thread.
#[derive(Clone)]
pub(crate) struct Redis {
    shared: Conn,
    maker: Maker,
    /// Tells this Redis's per-thread connections from another's.
    id: u64,
    /// The nodes named in the URL, for messages.
    pub nodes: Arc<str>,
}

thread_local! {
    /// The connections made on this thread's runtime, by [`Redis::id`].
    static LOCAL: std::cell::RefCell<HashMap<u64, LocalConn>> = std::cell::RefCell::default();
}

type LocalConn = Arc<tokio::sync::OnceCell<Conn>>;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A failure to reach or set up the Redis a URL names, said for the operator.
#[derive(Debug)]
pub(crate) struct ConnectError(pub String);

impl Redis {
    /// Connects to what `target` names, failing now when it can't be reached: one node must
    /// answer; for a cluster, a seed must answer with the slot map and every master a `PING`.
    pub async fn connect(target: &Target) -> Result<Redis, ConnectError> {
        let nodes: Arc<str> = target.describe().into();
        let o = target.options;
        let certs = match &target.ca {
            None => None,
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                ConnectError(format!(
                    "{}: cannot read the counters CA bundle: {e}",
                    path.display()
                ))
            })?),
        };
        if target.tls {
            crate::install_tls_provider();
        }
        let invalid = |e: redis::RedisError| ConnectError(format!("invalid Redis URL: {e}"));
        let maker = match &target.topology {
            Topology::Node(url) => {
                let client = if target.tls {
                    redis::Client::build_with_tls(
                        url.as_str(),
                        redis::TlsCertificates {
                            client_tls: None,
                            root_cert: certs,
                        },
                    )
                } else {
                    redis::Client::open(url.as_str())
                }
                .map_err(invalid)?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(o.connect_timeout))
                    .set_response_timeout(Some(o.response_timeout))
                    // One attempt per reconnection: a check waiting on a Redis that is down
                    // fails within the connect timeout, and the next check tries again.
                    .set_number_of_retries(0);
                Maker::Node(client, config)
            }
            Topology::Cluster(urls) => {
                let mut builder = ClusterClientBuilder::new(urls.iter().map(String::as_str))
                    .connection_timeout(o.connect_timeout)
                    .response_timeout(o.response_timeout)
                    // A redirection (MOVED, ASK) or a lost node is retried after the slot map
                    // is read again; the gateway's own bound on a check (`counters_ms`) cuts
                    // any retrying short, so a failover never holds a request past it.
                    .retries(3)
                    .min_retry_wait(10)
                    .max_retry_wait(100);
                if target.tls {
                    builder = builder.certs(redis::TlsCertificates {
                        client_tls: None,
                        root_cert: certs,
                    });
                }
                Maker::Cluster(builder.build().map_err(invalid)?)
            }
        };
        let cluster = matches!(maker, Maker::Cluster(_));
        let what = if cluster {
            format!("Redis Cluster (seeds {nodes})")
        } else {
            format!("Redis at {nodes}")
        };
        let shared = maker
            .connect()
            .await
            .map_err(|e| ConnectError(format!("cannot connect to {what}: {e}")))?;
        let redis = Redis {
            shared,
            maker,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            nodes,
        };
        if cluster {
            // The slot map came from one seed; a master it names that doesn't answer would
            // only show on the first request for its slots.
            redis.ping_with(redis.shared.clone()).await.map_err(|e| {
                ConnectError(format!("{what} does not answer on every master: {e}"))
            })?;
        }
        Ok(redis)
    }

    /// Whether this is a Redis Cluster rather than one node.
    pub fn is_cluster(&self) -> bool {
        matches!(self.maker, Maker::Cluster(_))
    }

    /// The connection made at start (the admin API, idempotency records, tests, leases).
    pub fn shared(&self) -> Conn {
        self.shared.clone()
    }

    /// The connection for the calling task: on a worker's single-threaded runtime, that
    /// worker's own (made on first use; until it connects, the shared one); elsewhere, the
    /// shared one.
    pub async fn conn(&self) -> Conn {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let on_worker =
            Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::CurrentThread);
        if !on_worker {
            return self.shared.clone();
        }
        let cell = LOCAL.with(|l| l.borrow_mut().entry(self.id).or_default().clone());
        if let Some(c) = cell.get() {
            return c.clone();
        }
        match cell.get_or_try_init(|| self.maker.connect()).await {
            Ok(c) => c.clone(),
            Err(e) => {
                tracing::debug!(error = %e, "no worker connection to Redis yet; using the shared one");
                self.shared.clone()
            }
        }
    }

    /// `PING` on the calling task's connection: one node's, or every master's of a cluster.
    pub async fn ping(&self) -> RedisResult<()> {
        self.ping_with(self.conn().await).await
    }

    async fn ping_with(&self, mut conn: Conn) -> RedisResult<()> {
        // A cluster connection sends PING to every master and answers once all have.
        let pong: String = redis::cmd("PING").query_async(&mut conn).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "PING answered",
                pong,
            )))
        }
    }
}

/// A Lua script errata runs on Redis, with its SHA-1 for `EVALSHA`.
pub(crate) struct Lua {
    body: &'static str,
    hash: String,
}

impl Lua {
    pub fn new(body: &'static str) -> Lua {
        Lua {
            body,
            hash: redis::Script::new(body).get_hash().to_owned(),
        }
    }

    /// A call of this script, its keys and arguments added in order.
    pub fn call(&'static self) -> Call {
        Call {
            lua: self,
            keys: Vec::new(),
            args: Vec::new(),
        }
    }
}

/// A script's keys and arguments.
pub(crate) struct Call {
    lua: &'static Lua,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl Call {
    pub fn key(&mut self, key: impl ToRedisArgs) -> &mut Call {
        self.keys.extend(key.to_redis_args());
        self
    }

    pub fn arg(&mut self, arg: impl ToRedisArgs) -> &mut Call {
        self.args.extend(arg.to_redis_args());
        self
    }

    /// `EVALSHA`, and `EVAL` with the body when the node answers that it doesn't have it.
    pub async fn run<T: FromRedisValue>(&self, conn: &mut Conn) -> RedisResult<T> {
        match self
            .command("EVALSHA", &self.lua.hash)
            .query_async(conn)
            .await
        {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                self.command("EVAL", self.lua.body).query_async(conn).await
            }
            other => other,
        }
    }

    fn command(&self, verb: &str, script: &str) -> Cmd {
        let mut c = redis::cmd(verb);
        c.arg(script).arg(self.keys.len());
        for k in &self.keys {
            c.arg(k.as_slice());
        }
        for a in &self.args {
            c.arg(a.as_slice());
        }
        c
    }
}
