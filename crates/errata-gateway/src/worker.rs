//! Workers: one OS thread per worker, each with a single-threaded tokio runtime and its own
//! listening socket (several sockets on one address with `SO_REUSEPORT`, the kernel spreading
//! connections; another process on the address stops the start, see [`bind`]), accepting with
//! `TCP_NODELAY` and a cap on open connections shared by all.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use crate::conn;
use crate::gateway::Gateway;
use crate::live::Live;
use crate::tls;

/// How long a connection past the cap gets to take its 503.
const REFUSAL_WRITE: Duration = Duration::from_secs(1);
/// How long the 503 waits for the refused client's request head.
const REFUSAL_HEAD_WAIT: Duration = Duration::from_millis(500);

/// Called on a worker's thread after many of its connections have ended, so the process can
/// give the memory they held back to the system (the allocator is the binary's choice): with
/// `true` when the worker has no connection left, at most once a second.
static IDLE_HOOK: std::sync::OnceLock<fn(bool)> = std::sync::OnceLock::new();

/// How many ended connections make a worker call the idle hook with `false`.
const IDLE_HOOK_EVERY: usize = 1024;

/// The least time between two calls of the idle hook with `true` on one worker.
const IDLE_HOOK_GAP: Duration = Duration::from_secs(1);

/// Sets the idle hook (once per process; later calls are ignored).
pub fn set_idle_hook(hook: fn(bool)) {
    let _ = IDLE_HOOK.set(hook);
}

/// The queue of connections not yet accepted, per listening socket.
const BACKLOG: i32 = 4096;

/// What `bind` says when another process holds the address.
pub const ADDRESS_IN_USE: &str = "the address is in use by another process";

/// Binds `n` listening sockets on `addr`, sharing it with `SO_REUSEPORT` (port 0: the first
/// one's port), or fails with [`ADDRESS_IN_USE`] when another process listens there.
///
/// `SO_REUSEPORT` lets any socket of the same user that sets it join the address, so a second
/// gateway started on a busy address would come up and take part of its connections. The first
/// socket is therefore bound and listening without it, which fails when any other socket
/// listens on the address, `SO_REUSEPORT` or not; only then does it get the option, and the
/// other workers' sockets join it. `SO_REUSEADDR` keeps connections of an earlier run in
/// TIME_WAIT from counting. Of two gateways starting on one address at once, the one that
/// listens second fails: there is no window between a check and the bind. What this cannot
/// stop is a process that binds with `SO_REUSEPORT` and checks nothing (another server set up
/// for it) joining once the first socket has the option.
pub fn bind(addr: SocketAddr, n: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let in_use = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            std::io::Error::new(std::io::ErrorKind::AddrInUse, ADDRESS_IN_USE)
        } else {
            e
        }
    };
    let first = socket(addr)?;
    first.bind(&addr.into()).map_err(in_use)?;
    first.listen(BACKLOG).map_err(in_use)?;
    #[cfg(unix)]
    first.set_reuse_port(true)?;
    let first: std::net::TcpListener = first.into();
    let at = first.local_addr()?;
    let mut out = Vec::with_capacity(n.max(1));
    out.push(first);
    for _ in 1..n.max(1) {
        let s = socket(at)?;
        #[cfg(unix)]
        s.set_reuse_port(true)?;
        s.bind(&at.into())?;
        s.listen(BACKLOG)?;
        out.push(s.into());
    }
    Ok(out)
}

/// A non-blocking TCP socket for `at` with `SO_REUSEADDR`.
fn socket(at: SocketAddr) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::for_address(at), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Starts one worker thread per listener. Each resolves its `oneshot` when it has stopped:
/// after `stop` turns true, accepting ends, open connections finish their request within the
/// shutdown grace and are then dropped.
pub fn spawn(
    live: &Arc<Live>,
    listeners: Vec<std::net::TcpListener>,
    stop: &watch::Receiver<bool>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> Result<Vec<oneshot::Receiver<()>>, String> {
    let open = Arc::new(AtomicUsize::new(0));
    let mut done = Vec::new();
    for (worker, listener) in listeners.into_iter().enumerate() {
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start worker {worker}: {e}"))?;
        let (tx, rx) = oneshot::channel();
        let live = Arc::clone(live);
        let stop = stop.clone();
        let open = Arc::clone(&open);
        let tls = tls.clone();
        std::thread::Builder::new()
            .name(format!("errata-worker-{worker}"))
            .spawn(move || {
                rt.block_on(accept_loop(live, worker, listener, stop, open, tls));
                let _ = tx.send(());
            })
            .map_err(|e| format!("cannot start worker {worker}: {e}"))?;
        done.push(rx);
    }
    Ok(done)
}

/// Counts an open connection for as long as it lives.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop(
    live: Arc<Live>,
    worker: usize,
    listener: std::net::TcpListener,
    mut stop: watch::Receiver<bool>,
    open: Arc<AtomicUsize>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, worker, "worker cannot use its listener");
            return;
        }
    };
    // A setting of the process: a reload that changes it takes a restart.
    let max = live.load().config.max_connections;
    let mut conns = JoinSet::new();
    let mut ended = 0usize;
    let mut last_idle = std::time::Instant::now();
    loop {
        let (tcp, peer) = tokio::select! {
            // A finished connection's task is joined at once: until then its memory (the
            // whole connection future's size) stays allocated.
            Some(_) = conns.join_next(), if !conns.is_empty() => {
                ended += 1;
                if let Some(hook) = IDLE_HOOK.get() {
                    if conns.is_empty() && last_idle.elapsed() >= IDLE_HOOK_GAP {
                        hook(true);
                        last_idle = std::time::Instant::now();
                        ended = 0;
                    } else if ended >= IDLE_HOOK_EVERY {
                        hook(false);
                        ended = 0;
                    }
                }
                continue;
            }
            res = listener.accept() => match res {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let _ = tcp.set_nodelay(true);
        let guard = Open(Arc::clone(&open));
        if open.fetch_add(1, Ordering::Relaxed) >= max {
            match &tls {
                None => conns.spawn(refuse(tcp, live.load().over_capacity(), guard)),
                Some(acceptor) => {
                    conns.spawn(refuse_tls(live.load_full(), acceptor.clone(), tcp, guard))
                }
            };
            continue;
        }
        let gateway = Arc::clone(&live);
        let stop = stop.clone();
        let tls = tls.clone();
        conns.spawn(async move {
            let _guard = guard;
            let Some(acceptor) = tls else {
                conn::serve(tcp, gateway, worker, peer, stop).await;
                return;
            };
            let Some(a) = tls::server::accept(&acceptor, tcp, tls::server::HANDSHAKE_TIMEOUT).await
            else {
                return;
            };
            match a.protocol {
                tls::Protocol::Http2 => conn::serve_h2(a.stream, gateway, worker, peer, stop).await,
                tls::Protocol::Http1 => conn::serve(a.stream, gateway, worker, peer, stop).await,
            }
        });
    }
    drop(listener);
    let grace = live.load().config.shutdown_grace;
    if tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        tracing::warn!(
            worker,
            "shutdown grace elapsed with requests still in flight"
        );
        conns.abort_all();
    }
}

/// Answers a TLS connection past the cap with the catalog's 503, in the protocol the client
/// chose, and closes it. The handshake is bounded like the answer, so a refused connection
/// holds its slot for at most a few seconds.
async fn refuse_tls(
    gw: Arc<Gateway>,
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: TcpStream,
    open: Open,
) {
    let Some(a) = tls::server::accept(&acceptor, tcp, REFUSAL_WRITE).await else {
        return;
    };
    match a.protocol {
        tls::Protocol::Http1 => refuse(a.stream, gw.over_capacity(), open).await,
        tls::Protocol::Http2 => refuse_h2(a.stream, gw, open).await,
    }
}

/// Serves an HTTP/2 connection past the cap: the first request (and any sent with it) gets the
/// 503; then the connection is shut down gracefully (GOAWAY), within the refusal's time bound.
async fn refuse_h2<IO>(io: IO, gw: Arc<Gateway>, _open: Open)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let answered = Arc::new(tokio::sync::Notify::new());
    let told = Arc::clone(&answered);
    let service = hyper::service::service_fn(move |_req: http::Request<hyper::body::Incoming>| {
        told.notify_one();
        let res = gw.over_capacity_response();
        async move { Ok::<_, std::convert::Infallible>(res) }
    });
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let _ = tokio::time::timeout(REFUSAL_WRITE, async {
        tokio::select! {
            _ = conn.as_mut() => return,
            () = answered.notified() => {}
        }
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    })
    .await;
}

/// Answers a connection past the cap with the catalog's 503 and closes it. The answer waits
/// (briefly) for the client's request head, so that a client that sends first reads it as the
/// answer to its request rather than as a connection closed under it.
async fn refuse<IO>(mut io: IO, bytes: bytes::Bytes, _open: Open)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(REFUSAL_HEAD_WAIT, async {
        // The last four bytes seen, across reads (the head's end may straddle two).
        let mut last = [0u8; 4];
        while let Ok(n) = io.read(&mut sink).await {
            if n == 0 {
                return;
            }
            for &b in &sink[..n] {
                last = [last[1], last[2], last[3], b];
                if &last == b"\r\n\r\n" {
                    return;
                }
            }
        }
    })
    .await;
    let _ = tokio::time::timeout(REFUSAL_WRITE, async {
        let _ = io.write_all(&bytes).await;
        let _ = io.shutdown().await;
        // Read what the client sent, so that closing does not reset the connection before
        // the client has read the answer.
        while let Ok(n) = io.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    /// What `bind` says for `at`, which must be refused.
    fn refusal(at: SocketAddr) -> String {
        match bind(at, 2) {
            Ok(_) => panic!("{at} was bound while held"),
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
                e.to_string()
            }
        }
    }

    #[test]
    fn the_workers_share_one_address_and_another_start_on_it_is_refused() {
        let listeners = bind(loopback(), 3).unwrap();
        let at = listeners[0].local_addr().unwrap();
        assert_ne!(at.port(), 0);
        let all: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        assert_eq!(all, [at, at, at]);
        assert_eq!(refusal(at), ADDRESS_IN_USE);
    }

    #[cfg(unix)]
    #[test]
    fn a_listener_that_set_so_reuseport_itself_holds_the_address_too() {
        let other = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        other.set_reuse_address(true).unwrap();
        other.set_reuse_port(true).unwrap();
        other.bind(&loopback().into()).unwrap();
        other.listen(16).unwrap();
        let at = other.local_addr().unwrap().as_socket().unwrap();
        assert_eq!(refusal(at), ADDRESS_IN_USE);
    }

    #[test]
    fn connections_of_an_earlier_run_in_time_wait_do_not_hold_the_address() {
        use std::io::Read;
        let listeners = bind(loopback(), 2).unwrap();
        let at = listeners[0].local_addr().unwrap();
        let mut client = std::net::TcpStream::connect(at).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let server = 'accepted: loop {
            for l in &listeners {
                if let Ok((s, _)) = l.accept() {
                    break 'accepted s;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no connection accepted"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        // The gateway's side closes first, so its end of the connection waits in TIME_WAIT.
        drop(server);
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(client.read(&mut [0u8; 1]).unwrap(), 0);
        drop(client);
        drop(listeners);
        std::thread::sleep(Duration::from_millis(50));
        let again = bind(at, 2).expect("an address with connections in TIME_WAIT is free");
        assert_eq!(again[0].local_addr().unwrap(), at);
    }
}
