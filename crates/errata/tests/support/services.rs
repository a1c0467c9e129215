//! Real PostgreSQL and Redis for the tests that need them: a fresh database on the server named
//! by `ERRATA_TEST_POSTGRES_URL` (default: the local one), and a throwaway `redis-server` on a
//! free port (or `ERRATA_TEST_REDIS_URL`). Without them the test prints `skipped: ...` and passes,
//! unless `CI` is set, where a missing service fails the test.

#![allow(dead_code)]

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// Says a service is missing: fails under CI, else prints and lets the test return.
pub fn missing(what: &str, why: &str) -> Option<std::convert::Infallible> {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is required under CI: {why}");
    }
    println!("skipped: no {what} ({why})");
    None
}

/// A database created for one test, dropped with it.
pub struct FreshDb {
    pub url: String,
    admin_url: String,
    name: String,
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside any runtime guarantee: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut c = PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut c)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

fn pg_base() -> String {
    std::env::var("ERRATA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh, empty database, or `None` (after printing why) when PostgreSQL is unreachable.
pub async fn postgres() -> Option<FreshDb> {
    let admin_url = pg_base();
    let conn =
        tokio::time::timeout(Duration::from_secs(3), PgConnection::connect(&admin_url)).await;
    let mut c = match conn {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            missing("PostgreSQL", &format!("{admin_url}: {e}"))?;
            unreachable!()
        }
        Err(_) => {
            missing("PostgreSQL", &format!("{admin_url}: timed out"))?;
            unreachable!()
        }
    };
    let name = format!("errata_test_{}", rand_suffix());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .await
        .expect("CREATE DATABASE (the test user needs CREATEDB)");
    let (base, _) = admin_url.rsplit_once('/').expect("URL has a database");
    Some(FreshDb {
        url: format!("{base}/{name}"),
        admin_url,
        name,
    })
}

fn rand_suffix() -> String {
    use rand::Rng;
    let mut r = rand::rng();
    (0..12)
        .map(|_| (b'a' + r.random_range(0..26)) as char)
        .collect()
}

/// A Redis server for one test.
pub struct Redis {
    pub url: String,
    pub port: u16,
    child: Option<Child>,
    /// For a TLS server: its certificate, key and CA files (`--tls-*`).
    tls: Option<[PathBuf; 3]>,
}

impl Redis {
    /// Stops the server (to test failure policies); `start_again` brings it back on the same port.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn start_again(&mut self) {
        assert!(
            self.child.is_none(),
            "only a throwaway server can be restarted"
        );
        self.child =
            Some(spawn_redis(self.port, self.tls.as_ref()).expect("redis-server restarts"));
        wait_for_port(self.port);
    }

    /// Whether the test owns the server (and can kill it).
    pub fn owned(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_redis(port: u16, tls: Option<&[PathBuf; 3]>) -> std::io::Result<Child> {
    let mut cmd = Command::new("redis-server");
    match tls {
        None => cmd.args(["--port", &port.to_string()]),
        Some([cert, key, ca]) => cmd
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .arg("--tls-cert-file")
            .arg(cert)
            .arg("--tls-key-file")
            .arg(key)
            .arg("--tls-ca-cert-file")
            .arg(ca)
            .args(["--tls-auth-clients", "no"]),
    };
    cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server did not start on port {port}");
}

/// A throwaway Redis (or the one `ERRATA_TEST_REDIS_URL` names), or `None` after printing why.
pub fn redis() -> Option<Redis> {
    if let Ok(url) = std::env::var("ERRATA_TEST_REDIS_URL") {
        return Some(Redis {
            url,
            port: 0,
            child: None,
            tls: None,
        });
    }
    let port = StdListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    match spawn_redis(port, None) {
        Ok(child) => {
            wait_for_port(port);
            Some(Redis {
                url: format!("redis://127.0.0.1:{port}"),
                port,
                child: Some(child),
                tls: None,
            })
        }
        Err(e) => {
            missing("Redis", &format!("cannot start redis-server: {e}"))?;
            unreachable!()
        }
    }
}

/// A throwaway Redis speaking only TLS (`redis-server --tls-port`), with the given certificate,
/// key and CA files; its URL is `rediss://localhost:PORT/` (the certificate must name
/// `localhost`). `None` after printing why when this `redis-server` has no TLS.
pub fn redis_tls(cert: PathBuf, key: PathBuf, ca: PathBuf) -> Option<Redis> {
    let port = StdListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let tls = [cert, key, ca];
    let mut child = match spawn_redis(port, Some(&tls)) {
        Ok(c) => c,
        Err(e) => {
            missing("Redis", &format!("cannot start redis-server: {e}"))?;
            unreachable!()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        // A redis-server built without TLS refuses the --tls-* options and exits.
        if let Ok(Some(status)) = child.try_wait() {
            missing(
                "Redis with TLS",
                &format!("redis-server --tls-port exited: {status}"),
            )?;
        }
        assert!(
            Instant::now() < deadline,
            "redis-server (TLS) did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Redis {
        url: format!("rediss://localhost:{port}/"),
        port,
        child: Some(child),
        tls: Some(tls),
    })
}

/// The local PostgreSQL server's certificate, to verify it against (`sslrootcert`): the file
/// `ssl_cert_file` names, when the server has `ssl = on` and the file is readable here (a
/// self-signed certificate, as a fresh install's is). `None` after printing why.
pub async fn postgres_server_cert() -> Option<PathBuf> {
    let mut c = PgConnection::connect(&pg_base()).await.ok()?;
    let ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&mut c)
        .await
        .ok()?;
    if ssl != "on" {
        missing("PostgreSQL with TLS", "the server has ssl = off")?;
    }
    let file: String = sqlx::query_scalar("SHOW ssl_cert_file")
        .fetch_one(&mut c)
        .await
        .ok()?;
    let path = PathBuf::from(&file);
    if std::fs::read(&path).is_err() {
        missing(
            "PostgreSQL server certificate",
            &format!("{file} is not readable"),
        )?;
    }
    Some(path)
}

/// A PostgreSQL URL with TLS options, on `localhost` (the name the local certificate carries).
pub fn postgres_tls_url(url: &str, query: &str) -> String {
    format!("{}?{query}", url.replacen("@127.0.0.1:", "@localhost:", 1))
}
