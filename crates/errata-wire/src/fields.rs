//! What both directions check in a head `httparse` completed: line endings, and the header
//! fields that frame the body or steer the connection, gathered in one pass.

use crate::{HeaderAt, MAX_CONTENT_LENGTH, Refusal};

/// The longest header name hyper takes (its header name type holds less than 64 KiB).
const MAX_NAME_LEN: usize = (1 << 16) - 1;

/// Where `part` (a subslice of `buf`) starts in `buf`.
pub(crate) fn offset(buf: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize)
}

/// Refuses a head with a CR not followed by LF or an LF not preceded by CR (`httparse` takes a
/// bare LF as a line end). One pass over the head's bytes, each pair of neighbours compared
/// without branching, so that the compiler can run it on whole vectors.
pub(crate) fn check_line_ends(head: &[u8]) -> Result<(), Refusal> {
    let unpaired = head
        .iter()
        .zip(head.iter().skip(1))
        .fold(false, |bad, (&a, &b)| bad | ((a == b'\r') != (b == b'\n')));
    if unpaired || head.first() == Some(&b'\n') || head.last() == Some(&b'\r') {
        return Err(Refusal::Malformed(
            "a line of the head ends with a bare CR or LF; lines must end with CRLF",
        ));
    }
    Ok(())
}

/// The reason for an `httparse` error in the header section (`otherwise` for the others). Only called on the way to a
/// refusal, so it may look at the bytes again.
pub(crate) fn header_error(buf: &[u8], err: httparse::Error, otherwise: &'static str) -> Refusal {
    match err {
        httparse::Error::TooManyHeaders => Refusal::TooLarge,
        httparse::Error::HeaderName if has_folded_line(buf) => Refusal::Malformed(
            "a header line starts with whitespace (obsolete line folding is not allowed)",
        ),
        httparse::Error::HeaderName => {
            Refusal::Malformed("a header name is not valid (a token, then a colon)")
        }
        httparse::Error::HeaderValue => {
            Refusal::Malformed("a header value contains a character that is not allowed")
        }
        _ => Refusal::Malformed(otherwise),
    }
}

/// Whether a line of the header section (before the first empty line) starts with SP or HTAB.
fn has_folded_line(buf: &[u8]) -> bool {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n');
    let mut lines = buf[start.unwrap_or(buf.len())..].split(|&b| b == b'\n');
    lines.next(); // the start line
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match line.first() {
            None => return false,
            Some(b' ' | b'\t') => return true,
            Some(_) => {}
        }
    }
    false
}

/// What the header section says about framing and the connection.
#[derive(Default)]
pub(crate) struct Fields<'b> {
    pub headers: Vec<HeaderAt>,
    /// The first `Content-Length` value, and how many there were.
    content_length: Option<&'b [u8]>,
    /// A second `Content-Length` value, for the reason given.
    second_length: Option<&'b [u8]>,
    /// The first `Transfer-Encoding` value, and how many there were.
    transfer_encoding: Option<&'b [u8]>,
    transfer_encodings: u32,
    pub close: bool,
    pub keep_alive: bool,
    pub expect_continue: bool,
    pub upgrade: bool,
}

/// How a body is framed by its header fields alone.
pub(crate) enum Framing {
    None,
    Length(u64),
    Chunked,
}

impl<'b> Fields<'b> {
    /// Reads the parsed header lines of `buf`.
    pub fn read(buf: &'b [u8], raw: &[httparse::Header<'b>]) -> Result<Self, Refusal> {
        let mut f = Fields {
            headers: Vec::with_capacity(raw.len()),
            ..Fields::default()
        };
        for h in raw {
            let name = h.name.as_bytes();
            if name.len() > MAX_NAME_LEN {
                return Err(Refusal::TooLarge);
            }
            let (n, v) = (offset(buf, name), offset(buf, h.value));
            f.headers.push(HeaderAt {
                name: n..n + name.len(),
                value: v..v + h.value.len(),
            });
            f.note(name, h.value);
        }
        Ok(f)
    }

    fn note(&mut self, name: &[u8], value: &'b [u8]) {
        // The length picks the few candidates before any comparison.
        match name.len() {
            14 if name.eq_ignore_ascii_case(b"content-length") => match self.content_length {
                None => self.content_length = Some(value),
                Some(_) if self.second_length.is_none() => self.second_length = Some(value),
                Some(_) => {}
            },
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                self.transfer_encodings += 1;
                self.transfer_encoding.get_or_insert(value);
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in list(value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        self.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        self.keep_alive = true;
                    }
                }
            }
            6 if name.eq_ignore_ascii_case(b"expect") => {
                self.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
            }
            7 if name.eq_ignore_ascii_case(b"upgrade") => self.upgrade = true,
            _ => {}
        }
    }

    /// Whether the connection stays open after this message, in HTTP/1.`minor`.
    pub fn persistent(&self, minor: u8) -> bool {
        !self.close && (minor == 1 || self.keep_alive)
    }

    /// The framing the header fields give, checked strictly. `request` holds a request's
    /// `Transfer-Encoding` to exactly `chunked`.
    pub fn framing(&self, minor: u8, request: bool) -> Result<Framing, Refusal> {
        if let Some(te) = self.transfer_encoding {
            if minor == 0 {
                return Err(Refusal::Malformed(
                    "Transfer-Encoding is not allowed in HTTP/1.0",
                ));
            }
            if self.transfer_encodings > 1 {
                return Err(Refusal::Malformed(
                    "the Transfer-Encoding header is repeated",
                ));
            }
            if self.content_length.is_some() {
                return Err(Refusal::Malformed(
                    "Content-Length and Transfer-Encoding are both present",
                ));
            }
            let mut codings = list_all(te);
            let last = codings.next_back().unwrap_or_default();
            if !last.eq_ignore_ascii_case(b"chunked") {
                return Err(Refusal::Malformed(
                    "Transfer-Encoding must end with chunked",
                ));
            }
            if request && !te.eq_ignore_ascii_case(b"chunked") {
                return Err(Refusal::NotImplemented(
                    "a request's Transfer-Encoding must be exactly chunked",
                ));
            }
            if codings.any(|c| c.eq_ignore_ascii_case(b"chunked")) {
                return Err(Refusal::Malformed(
                    "Transfer-Encoding lists chunked more than once",
                ));
            }
            return Ok(Framing::Chunked);
        }
        let Some(cl) = self.content_length else {
            return Ok(Framing::None);
        };
        let len = content_length(cl)?;
        if let Some(second) = self.second_length {
            return Err(Refusal::Malformed(
                if content_length(second).is_ok_and(|n| n == len) {
                    "the Content-Length header is repeated"
                } else {
                    "the Content-Length headers disagree"
                },
            ));
        }
        Ok(Framing::Length(len))
    }
}

/// A `Content-Length` value: plain digits, no sign, no space, no list, at most
/// [`MAX_CONTENT_LENGTH`].
fn content_length(value: &[u8]) -> Result<u64, Refusal> {
    const NAN: Refusal = Refusal::Malformed("the Content-Length header is not a number");
    if value.is_empty() {
        return Err(NAN);
    }
    let n = value.iter().try_fold(0u64, |n, &b| match b {
        b'0'..=b'9' => n.checked_mul(10)?.checked_add(u64::from(b - b'0')),
        _ => None,
    });
    match n {
        Some(n) if n <= MAX_CONTENT_LENGTH => Ok(n),
        Some(_) => Err(Refusal::TooLarge),
        None => Err(NAN),
    }
}

/// The elements of a comma-separated list, trimmed of SP and HTAB, empty ones skipped.
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    list_all(value).filter(|e| !e.is_empty())
}

/// The elements of a comma-separated list, trimmed of SP and HTAB, empty ones kept.
fn list_all(value: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows)
}

/// `bytes` without the SP and HTAB around it.
fn trim_ows(bytes: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !ows(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    &bytes[start..end]
}
