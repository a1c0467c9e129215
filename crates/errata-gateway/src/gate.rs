//! The gate in front of hyper on every public connection: it reads each request head first and
//! hands hyper only heads it accepts, followed by their bodies. A head hyper would refuse, or
//! one not complete in time, is replaced by a marked request that errata's service answers with
//! the refusal in the catalog's envelope and `Connection: close`, so that the refusal goes out
//! through hyper, after every answer to the requests before it on the connection.
//!
//! hyper still parses and frames every request. The gate knows where a body ends only for a
//! `Content-Length` body; after a chunked body or a protocol switch it steps aside for the rest
//! of the connection (hyper's own checks then apply to later heads).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use errata_core::{ApiError, Condition};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::head::{self, Framing, Head, MAX_HEAD_BYTES};

/// How long a refused connection is drained before it is closed.
const DRAIN: Duration = Duration::from_secs(1);

/// Where the gate leaves the refusal for the service, and the marked request that carries it.
#[derive(Clone)]
pub struct Refusals {
    /// The refusal the next marked request is answered with.
    pub slot: Arc<Mutex<Option<ApiError>>>,
    /// A request head with the process's secret marker header.
    pub marked: Bytes,
}

enum State {
    /// Waiting for a head; `first` for the connection's first request.
    Head { first: bool },
    /// This many body bytes are still to come.
    Body(u64),
    /// No more heads are read (chunked body, upgrade).
    Open,
    /// A refusal was handed to hyper: what the client still sends is read and dropped, so
    /// that closing does not reset the connection before the client has read the answer.
    Refused,
    /// The connection is over.
    Closed,
}

/// An IO that hands hyper only what the head check accepts.
pub struct Gate<IO> {
    io: IO,
    /// Bytes read from `io` and not yet handed on: `buf[pos..end]`. The buffer past `end` is
    /// kept (initialized once per connection, not zeroed again for every read).
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// How many bytes at `buf[pos..]` hyper may have.
    ready: usize,
    state: State,
    timeout: Duration,
    /// Armed while a head is awaited and not complete.
    deadline: Pin<Box<Sleep>>,
    armed: bool,
    refusals: Refusals,
    /// Draining on shutdown after a refusal has started.
    draining: bool,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Gate<IO> {
    /// A gate on a new connection; its first head must be complete within `timeout`.
    pub fn new(io: IO, timeout: Duration, refusals: Refusals) -> Gate<IO> {
        Gate {
            io,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            ready: 0,
            state: State::Head { first: true },
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            armed: true,
            refusals,
            draining: false,
        }
    }

    /// The same gate, starting with `held`: bytes already read from the connection.
    pub fn with_held(mut self, held: Vec<u8>) -> Gate<IO> {
        if !held.is_empty() {
            self.end = held.len();
            self.buf = held;
        }
        self
    }

    fn buffered(&self) -> usize {
        self.end - self.pos
    }

    fn arm(&mut self) {
        if !self.armed {
            self.deadline.as_mut().reset(Instant::now() + self.timeout);
            self.armed = true;
        }
    }

    /// Replaces what is left of the connection with the marked request carrying `err`.
    fn refuse_with(&mut self, err: ApiError) {
        if let Ok(mut slot) = self.refusals.slot.lock() {
            *slot = Some(err);
        }
        self.buf.clear();
        self.buf.extend_from_slice(&self.refusals.marked);
        self.pos = 0;
        self.end = self.buf.len();
        self.ready = self.end;
        self.state = State::Refused;
    }

    /// Reads and drops what the client sends; `Ready` at its end or on an error.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match ready!(self.fill(cx, MAX_HEAD_BYTES)) {
                Ok(0) | Err(_) => return Poll::Ready(()),
                Ok(_) => {
                    self.pos = 0;
                    self.end = 0;
                }
            }
        }
    }

    /// Reads more of the connection into the gate's buffer; `Ok(0)` at its end.
    fn fill(&mut self, cx: &mut Context<'_>, max: usize) -> Poll<io::Result<usize>> {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        } else if self.pos >= 4096 && self.pos * 2 >= self.end {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        let start = self.end;
        let want = max.saturating_sub(self.buffered()).clamp(1, 16 * 1024);
        if self.buf.len() < start + want {
            self.buf.resize(start + want, 0);
        }
        let mut rb = ReadBuf::new(&mut self.buf[start..start + want]);
        let res = Pin::new(&mut self.io).poll_read(cx, &mut rb);
        let n = rb.filled().len();
        self.end = start + n;
        ready!(res)?;
        Poll::Ready(Ok(n))
    }

    /// Reads straight from the connection into hyper's buffer, at most `limit` bytes.
    fn direct(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
        limit: u64,
    ) -> Poll<io::Result<usize>> {
        let n = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .min(out.remaining());
        let dst = out.initialize_unfilled_to(n);
        let mut rb = ReadBuf::new(dst);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb))?;
        let got = rb.filled().len();
        out.advance(got);
        Poll::Ready(Ok(got))
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for Gate<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.ready > 0 {
                let n = this.ready.min(out.remaining());
                out.put_slice(&this.buf[this.pos..this.pos + n]);
                this.pos += n;
                this.ready -= n;
                return Poll::Ready(Ok(()));
            }
            match &mut this.state {
                State::Closed => return Poll::Ready(Ok(())),
                State::Refused => {
                    // hyper has the marked request; it needs nothing more. At the client's
                    // end, stay pending: hyper is answering.
                    let _ = this.drain(cx);
                    return Poll::Pending;
                }
                State::Head { first } => {
                    let first = *first;
                    if this.buffered() > 0 {
                        match head::check(&this.buf[this.pos..this.end]) {
                            Head::Complete { len, framing } => {
                                this.ready = len;
                                this.armed = false;
                                this.state = match framing {
                                    Framing::Length(0) => State::Head { first: false },
                                    Framing::Length(n) => State::Body(n),
                                    Framing::Chunked | Framing::Opaque => State::Open,
                                };
                                continue;
                            }
                            Head::Refused(r) => {
                                this.refuse_with(r.error());
                                continue;
                            }
                            Head::Partial => {}
                        }
                        // A later head's clock starts with its first byte.
                        this.arm();
                    }
                    if this.armed && this.deadline.as_mut().poll(cx).is_ready() {
                        if first || this.buffered() > 0 {
                            let err = ApiError::condition(Condition::ClientTimeout)
                                .arg("timeout", this.timeout.as_secs().max(1));
                            this.refuse_with(err);
                        } else {
                            this.state = State::Closed;
                        }
                        continue;
                    }
                    if ready!(this.fill(cx, MAX_HEAD_BYTES))? == 0 {
                        // The client went away, possibly mid-head: nothing to answer.
                        this.state = State::Closed;
                    }
                }
                State::Body(left) => {
                    if *left == 0 {
                        this.state = State::Head { first: false };
                        continue;
                    }
                    let left_now = *left;
                    if this.buffered() > 0 {
                        let n = usize::try_from(left_now)
                            .unwrap_or(usize::MAX)
                            .min(this.buffered());
                        this.ready = n;
                        this.state = State::Body(left_now - n as u64);
                        continue;
                    }
                    let n = ready!(this.direct(cx, out, left_now))?;
                    if n == 0 {
                        this.state = State::Closed;
                    } else {
                        this.state = State::Body(left_now - n as u64);
                    }
                    return Poll::Ready(Ok(()));
                }
                State::Open => {
                    if this.buffered() > 0 {
                        this.ready = this.buffered();
                        continue;
                    }
                    ready!(this.direct(cx, out, u64::MAX))?;
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Gate<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let res = ready!(Pin::new(&mut this.io).poll_shutdown(cx));
        if matches!(this.state, State::Refused) {
            // After a refusal: read what the client still sends, for a bounded time, so that
            // closing does not reset the connection before the client has read the answer.
            if !this.draining {
                this.draining = true;
                this.deadline.as_mut().reset(Instant::now() + DRAIN);
            }
            if this.deadline.as_mut().poll(cx).is_pending() {
                ready!(this.drain(cx));
            }
            this.state = State::Closed;
        }
        Poll::Ready(res)
    }
}
