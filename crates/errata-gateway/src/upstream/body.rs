//! The upstream's response body, which gives its connection back to the pool once read to
//! its end; dropped earlier, the connection closes with it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::body::{Body, Frame, SizeHint};
use hyper::client::conn::http1::SendRequest;

use super::ProxyBody;
use super::pool::Pool;

/// A connection on loan to one response.
struct Lease {
    tx: SendRequest<ProxyBody>,
    pool: Arc<Pool>,
}

/// A response body from the upstream, streamed as it arrives.
pub struct UpstreamBody {
    inner: Incoming,
    lease: Option<Lease>,
}

impl UpstreamBody {
    /// Wraps `inner`; the connection goes back to `pool` when `inner` ends.
    pub(crate) fn new(
        inner: Incoming,
        tx: SendRequest<ProxyBody>,
        pool: Arc<Pool>,
    ) -> UpstreamBody {
        if inner.is_end_stream() {
            pool.release(tx);
            return UpstreamBody { inner, lease: None };
        }
        UpstreamBody {
            inner,
            lease: Some(Lease { tx, pool }),
        }
    }

    fn give_back(&mut self) {
        if let Some(lease) = self.lease.take() {
            lease.pool.release(lease.tx);
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.give_back(),
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.give_back(),
            Poll::Ready(Some(Err(_))) => self.lease = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // A reader that stops once `is_end_stream` says so never sees the final `None`.
        if self.inner.is_end_stream() {
            self.give_back();
        }
    }
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody")
            .field("pooled", &self.lease.is_some())
            .finish()
    }
}
