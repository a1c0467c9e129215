//! The read buffer of one side of a relayed exchange: bytes read and not yet consumed are
//! `buf[start..]`. It starts small and grows only as a head or a body's piece needs; once all
//! of it is consumed, a grown buffer is given back, so an idle connection holds little.

use std::io;

use bytes::BufMut;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The room a read asks for at least; the buffer's size at rest.
pub(crate) const SMALL: usize = 2 * 1024;

pub(crate) struct Buffer {
    buf: Vec<u8>,
    start: usize,
}

impl Buffer {
    pub(crate) fn new() -> Buffer {
        Buffer {
            buf: Vec::new(),
            start: 0,
        }
    }

    /// The bytes not yet consumed.
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.buf.len()
    }

    /// Marks `n` bytes consumed.
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
        if self.start == self.buf.len() {
            self.start = 0;
            self.buf.clear();
            if self.buf.capacity() > SMALL {
                self.buf = Vec::new();
            }
        }
    }

    /// Takes the unconsumed bytes out, leaving the buffer empty.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        let out = self.data().to_vec();
        self.consume(self.len());
        out
    }

    /// Reads more from `io` after what is held, holding at most `max` unconsumed bytes;
    /// `Ok(0)` at the end of the stream (or when `max` is reached).
    pub(crate) async fn fill<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
        max: usize,
    ) -> io::Result<usize> {
        let held = self.len();
        if held >= max {
            return Ok(0);
        }
        if self.start > 0 && (self.buf.capacity() - self.buf.len() < SMALL || self.start >= SMALL) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        // Room for what is wanted, at least SMALL, at most double what is held.
        let want = (max - held).min(held.max(SMALL));
        if self.buf.capacity() - self.buf.len() < want {
            self.buf.reserve(want);
        }
        let room = (self.buf.capacity() - self.buf.len()).min(max - held);
        let mut limited = (&mut self.buf).limit(room);
        io.read_buf(&mut limited).await
    }
}
