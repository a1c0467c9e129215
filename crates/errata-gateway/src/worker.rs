//! Workers: one OS thread per worker, each with a single-threaded tokio runtime and its own
//! listening socket (several sockets on one address with `SO_REUSEPORT`, the kernel spreading
//! connections), accepting with `TCP_NODELAY` and a cap on open connections shared by all.

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

/// How long a connection past the cap gets to take its 503.
const REFUSAL_WRITE: Duration = Duration::from_secs(1);

/// Binds `n` listening sockets on `addr` with `SO_REUSEPORT` (port 0: the first one's port).
pub fn bind(addr: SocketAddr, n: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let mut out = Vec::with_capacity(n);
    let mut at = addr;
    for _ in 0..n.max(1) {
        let s = Socket::new(Domain::for_address(at), Type::STREAM, Some(Protocol::TCP))?;
        s.set_reuse_address(true)?;
        #[cfg(unix)]
        s.set_reuse_port(true)?;
        s.set_nonblocking(true)?;
        s.bind(&at.into())?;
        s.listen(4096)?;
        let l: std::net::TcpListener = s.into();
        at = l.local_addr()?;
        out.push(l);
    }
    Ok(out)
}

/// Starts one worker thread per listener. Each resolves its `oneshot` when it has stopped:
/// after `stop` turns true, accepting ends, open connections finish their request within the
/// shutdown grace and are then dropped.
pub fn spawn(
    gw: &Arc<Gateway>,
    listeners: Vec<std::net::TcpListener>,
    stop: &watch::Receiver<bool>,
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
        let gw = Arc::clone(gw);
        let stop = stop.clone();
        let open = Arc::clone(&open);
        std::thread::Builder::new()
            .name(format!("errata-worker-{worker}"))
            .spawn(move || {
                rt.block_on(accept_loop(gw, worker, listener, stop, open));
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
    gw: Arc<Gateway>,
    worker: usize,
    listener: std::net::TcpListener,
    mut stop: watch::Receiver<bool>,
    open: Arc<AtomicUsize>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, worker, "worker cannot use its listener");
            return;
        }
    };
    let max = gw.config.max_connections;
    let mut conns = JoinSet::new();
    loop {
        let (tcp, peer) = tokio::select! {
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
        while conns.try_join_next().is_some() {}
        let _ = tcp.set_nodelay(true);
        let guard = Open(Arc::clone(&open));
        if open.fetch_add(1, Ordering::Relaxed) >= max {
            let bytes = gw.over_capacity();
            conns.spawn(refuse(tcp, bytes, guard));
            continue;
        }
        let gateway = Arc::clone(&gw);
        let stop = stop.clone();
        conns.spawn(async move {
            let _guard = guard;
            conn::serve(tcp, gateway, worker, peer, stop).await;
        });
    }
    drop(listener);
    let grace = gw.config.shutdown_grace;
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

/// Answers a connection past the cap with the catalog's 503 and closes it.
async fn refuse(mut tcp: TcpStream, bytes: bytes::Bytes, _open: Open) {
    let _ = tokio::time::timeout(REFUSAL_WRITE, async {
        let _ = tcp.write_all(&bytes).await;
        let _ = tcp.shutdown().await;
        // Read what the client sent, so that closing does not reset the connection before
        // the client has read the answer.
        let mut sink = [0u8; 4096];
        while let Ok(n) = tcp.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}
