//! Where HTTP/1.1 messages begin and end, decided strictly and without IO.
//!
//! The gateway's relay parses each request head once with [`parse_request`], makes its decisions
//! on ranges into its own read buffer, and forwards the client's bytes as they came; the
//! upstream's response goes back the same way through [`parse_response`]. A chunked body is
//! walked in place by [`ChunkedDecoder`]. Nothing here reads, writes, allocates a body or waits.
//!
//! ```
//! use errata_wire::{BodyKind, parse_request};
//!
//! let buf = b"POST /v1/orders?dry=1 HTTP/1.1\r\nHost: api\r\nContent-Length: 2\r\n\r\n{}";
//! let head = parse_request(buf).unwrap().unwrap();
//! assert_eq!(head.method(buf), "POST");
//! assert_eq!(head.path(buf), "/v1/orders");
//! assert_eq!(head.body, BodyKind::Length(2));
//! assert_eq!(&buf[head.len..], b"{}");
//! ```
//!
//! # Strictness
//!
//! The rules are RFC 9112's, read the way nginx reads them: whenever a message could be framed
//! two ways by two servers (request smuggling, response desync), it is refused rather than
//! guessed at. In particular:
//!
//! - `Content-Length` together with `Transfer-Encoding`, a repeated `Content-Length` or
//!   `Transfer-Encoding` header, and a `Content-Length` that is not plain digits are refused;
//! - a request's `Transfer-Encoding` must be exactly `chunked` (anything else whose last coding
//!   is `chunked` is [`Refusal::NotImplemented`]), and `Transfer-Encoding` in HTTP/1.0 is
//!   refused in both directions;
//! - every line of a head ends with CRLF: a bare CR or LF, and obsolete line folding, are
//!   refused;
//! - an HTTP/1.0 `CONNECT` with an `Upgrade` header (a tunnel by RFC 9110, a plain request to
//!   hyper) is refused;
//! - chunk sizes are 1 to 16 hex digits, chunk lines end with CRLF, extensions and trailers are
//!   bounded ([`MAX_CHUNK_LINE_BYTES`], [`MAX_TRAILER_BYTES`]).
//!
//! Limits are hyper's: [`MAX_HEADERS`], [`MAX_HEAD_BYTES`], [`MAX_URI_LEN`].

mod chunked;
mod fields;
mod request;
mod response;
mod split;
mod target;

pub use chunked::{Chunk, ChunkedDecoder, MAX_CHUNK_LINE_BYTES, MAX_TRAILER_BYTES};
pub use request::{RequestHead, parse_request};
pub use response::{ResponseHead, parse_response};
pub use split::{Message, split_messages, split_requests};

use std::ops::Range;

/// The most header lines a head may carry.
pub const MAX_HEADERS: usize = 100;

/// The largest head, in bytes, leading empty lines and the blank line included.
pub const MAX_HEAD_BYTES: usize = 128 * 1024;

/// The longest request target (`u16::MAX - 1`, hyper's and `http::Uri`'s bound).
pub const MAX_URI_LEN: usize = 65534;

/// The largest `Content-Length` taken (`u64::MAX - 2`, hyper's bound); larger is
/// [`Refusal::TooLarge`].
pub const MAX_CONTENT_LENGTH: u64 = u64::MAX - 2;

/// Why bytes are not taken as a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 400: the reason, in words a client can act on.
    Malformed(&'static str),
    /// 414: the request target is longer than [`MAX_URI_LEN`].
    UriTooLong,
    /// 431: more than [`MAX_HEADERS`] headers, a header name of 64 KiB or more, a head past
    /// [`MAX_HEAD_BYTES`], or a `Content-Length` past [`MAX_CONTENT_LENGTH`].
    TooLarge,
    /// 501: a request's `Transfer-Encoding` ends with `chunked` but is not exactly `chunked`.
    NotImplemented(&'static str),
}

/// How the body that follows a head is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body: the next message starts right after the head.
    None,
    /// Exactly this many bytes (`Content-Length`).
    Length(u64),
    /// A chunked body: walk it with [`ChunkedDecoder`].
    Chunked,
    /// Everything until the connection closes (responses only).
    UntilClose,
}

/// Where one header line's name and value are in the parsed buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderAt {
    /// The name, as sent (case preserved).
    pub name: Range<usize>,
    /// The value, without the whitespace around it.
    pub value: Range<usize>,
}
