//! Idle plain TCP connections to the upstream, for the HTTP/1.1 relay (which speaks HTTP on
//! them itself). A client connection keeps the upstream connection it used for as long as it
//! lives; only then does the connection come here, for another client connection of the same
//! worker. Newest first; one past the idle timeout, closed by the upstream, or holding bytes
//! nobody asked for is dropped rather than reused.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use tokio::net::TcpStream;

use super::pool::PoolOptions;

pub(crate) struct RawPool {
    idle: Mutex<Vec<(TcpStream, Instant)>>,
    options: PoolOptions,
}

/// How many more idle connections the relay keeps than hyper's pool: every exchange in flight
/// holds one, and each comes back after its exchange, so under a thousand concurrent requests a
/// pool of hyper's size would close most of them and connect again for the next request.
const RELAY_IDLE_FACTOR: usize = 16;

impl RawPool {
    pub(crate) fn new(options: PoolOptions) -> RawPool {
        RawPool {
            idle: Mutex::new(Vec::new()),
            options: PoolOptions {
                max_idle: options.max_idle.saturating_mul(RELAY_IDLE_FACTOR),
                ..options
            },
        }
    }

    /// The newest idle connection still open and quiet.
    pub(crate) fn checkout(&self) -> Option<TcpStream> {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some((stream, since)) = idle.pop() {
            if now.saturating_duration_since(since) >= self.options.idle_timeout {
                // The newest has expired, so every older one has too.
                idle.clear();
                return None;
            }
            if quiet(&stream) {
                return Some(stream);
            }
        }
        None
    }

    /// Keeps a connection whose last exchange ended cleanly.
    pub(crate) fn release(&self, stream: TcpStream) {
        if self.options.max_idle == 0 {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() >= self.options.max_idle {
            // The oldest is the first to expire anyway.
            idle.remove(0);
        }
        idle.push((stream, Instant::now()));
    }

    pub(crate) fn idle(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Whether an idle connection is still open with nothing to read (the upstream closing it
/// makes it readable: end of stream; unasked bytes would be misread as the next answer).
pub(crate) fn quiet(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}
