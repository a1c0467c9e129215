//! The response body of a claimed request: streamed to the client as it arrives and copied
//! aside; when it ends, the record is stored before the last bytes go out, so a client that has
//! the whole answer and retries gets the replay.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;

use super::Claim;
use crate::reply::Body;
use errata_store::idempotency::Record;

/// The recorded part of the response head.
pub(crate) struct Head {
    pub status: u16,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub code: Option<String>,
}

/// A body that records what passes through it.
pub struct Recording {
    inner: Body,
    state: State,
}

enum State {
    Recording(Box<Pending>),
    /// The record is being stored; `held` is the last frame (`None`: the end) to send after.
    Storing {
        store: Pin<Box<dyn Future<Output = ()> + Send>>,
        held: Option<Frame<Bytes>>,
    },
    /// Not (or no longer) recording.
    Passing,
}

struct Pending {
    claim: Claim,
    head: Head,
    chunks: Vec<Bytes>,
    len: u64,
    max: u64,
    /// The body's length when the upstream declared it: reaching it is the end, even if the
    /// body does not say so (the server stops polling a body once its length is written).
    declared: Option<u64>,
}

impl Pending {
    fn into_store(self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let mut body = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        for c in &self.chunks {
            body.extend_from_slice(c);
        }
        let record = Record {
            status: self.head.status,
            headers: self.head.headers,
            body: Bytes::from(body),
            code: self.head.code,
        };
        Box::pin(self.claim.finish(record))
    }
}

impl Recording {
    /// Wraps `body`; an answer already complete (no body) is stored before this returns.
    pub(crate) async fn start(body: Body, claim: Claim, head: Head, max: u64) -> Body {
        let declared = body.size_hint().exact();
        if let Some(n) = declared
            && n > max
        {
            claim.abandon(&format!(
                "the answer's {n} bytes exceed max_body_bytes ({max})"
            ));
            return body;
        }
        let pending = Pending {
            claim,
            head,
            chunks: Vec::new(),
            len: 0,
            max,
            declared,
        };
        if body.is_end_stream() {
            pending.into_store().await;
            return body;
        }
        Body::Recorded(UnsyncBoxBody::new(Recording {
            inner: body,
            state: State::Recording(Box::new(pending)),
        }))
    }
}

impl HttpBody for Recording {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        loop {
            match std::mem::replace(&mut this.state, State::Passing) {
                State::Passing => return Pin::new(&mut this.inner).poll_frame(cx),
                State::Storing { mut store, held } => {
                    if store.as_mut().poll(cx).is_pending() {
                        this.state = State::Storing { store, held };
                        return Poll::Pending;
                    }
                    return Poll::Ready(held.map(Ok));
                }
                State::Recording(mut pending) => {
                    let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
                        Poll::Pending => {
                            this.state = State::Recording(pending);
                            return Poll::Pending;
                        }
                        Poll::Ready(Some(Ok(frame))) => frame,
                        // The answer broke off: nothing to replay; dropping the claim releases
                        // the key.
                        Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                        Poll::Ready(None) => {
                            this.state = State::Storing {
                                store: pending.into_store(),
                                held: None,
                            };
                            continue;
                        }
                    };
                    if let Some(data) = frame.data_ref() {
                        let len = pending.len + data.len() as u64;
                        if len > pending.max {
                            let max = pending.max;
                            pending.claim.abandon(&format!(
                                "the answer is larger than max_body_bytes ({max})"
                            ));
                            return Poll::Ready(Some(Ok(frame)));
                        }
                        pending.len = len;
                        pending.chunks.push(data.clone());
                    }
                    if this.inner.is_end_stream() || pending.declared == Some(pending.len) {
                        this.state = State::Storing {
                            store: pending.into_store(),
                            held: Some(frame),
                        };
                        continue;
                    }
                    this.state = State::Recording(pending);
                    return Poll::Ready(Some(Ok(frame)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Passing) && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
