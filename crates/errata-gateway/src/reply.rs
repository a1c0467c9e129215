//! The body of every answer on the public listener: bytes errata made, or the upstream's body
//! streamed through while the request's concurrency lease is held, or either recorded for an
//! idempotency key as it goes out.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Frame, SizeHint};

use crate::upstream::UpstreamBody;
use errata_store::counters::Lease;

/// An answer's body.
pub enum Body {
    /// Bytes errata made: an error envelope, the error page (`None` once sent).
    Full(Option<Bytes>),
    /// The upstream's body; the lease is released when the body is done or dropped.
    Upstream(UpstreamBody, Option<Lease>),
    /// An answer to a claimed idempotency key, copied aside as it streams (the idempotency
    /// stage's recording body, boxed so that this one need not know it).
    Recorded(UnsyncBoxBody<Bytes, hyper::Error>),
}

impl Body {
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        let bytes = bytes.into();
        Body::Full((!bytes.is_empty()).then_some(bytes))
    }

    pub fn empty() -> Body {
        Body::Full(None)
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Upstream(body, _) => Pin::new(body).poll_frame(cx),
            Body::Recorded(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(bytes) => bytes.is_none(),
            Body::Upstream(body, _) => body.is_end_stream(),
            Body::Recorded(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Upstream(body, _) => body.size_hint(),
            Body::Recorded(body) => body.size_hint(),
        }
    }
}
