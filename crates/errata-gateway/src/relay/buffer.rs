//! The read buffer of one side of a relayed exchange: bytes read and not yet consumed are
//! `buf[start..end]`. It grows only while a head is incomplete (up to the head limit) and is
//! given back to its small size after a large head, so an idle connection holds little.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// The buffer's size at rest.
pub(crate) const SMALL: usize = 8 * 1024;

pub(crate) struct Buffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Buffer {
    pub(crate) fn new() -> Buffer {
        Buffer {
            buf: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    /// The bytes not yet consumed.
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Marks `n` bytes consumed.
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > SMALL {
                self.buf.truncate(SMALL);
                self.buf.shrink_to(SMALL);
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
        if self.start > 0 && (self.end == self.buf.len() || self.start >= SMALL) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let held = self.len();
        if held >= max {
            return Ok(0);
        }
        if self.end == self.buf.len() {
            let want = (self.buf.len() * 2).clamp(SMALL, max.max(SMALL));
            self.buf.resize(want.max(self.end + 1), 0);
        }
        let room = (self.buf.len() - self.end).min(max - held);
        let n = io.read(&mut self.buf[self.end..self.end + room]).await?;
        self.end += n;
        Ok(n)
    }
}
