//! Judging a request head by errata-wire's strict framing rules, so that a head the gateway
//! will not take is answered in the catalog's envelope instead of with hyper's empty 400, 414
//! or 431, and a head that hyper would take but another server could frame differently never
//! reaches hyper at all.
//!
//! [`check`] accepts exactly the heads [`errata_wire::parse_request`] accepts: hyper's limits
//! (at most [`MAX_HEADERS`] headers, a head of at most [`MAX_HEAD_BYTES`], a target of at most
//! 65534 bytes) and RFC 9112's framing as nginx reads it (no `Content-Length` beside
//! `Transfer-Encoding`, one plain-digit `Content-Length`, a request's `Transfer-Encoding`
//! exactly `chunked`, CRLF line ends only, no folded lines). It tells how long the body that
//! follows is. hyper still parses and frames every request that passes; this check decides
//! which requests reach it and who answers the others.

use errata_core::{ApiError, Condition};

/// The most headers a request may carry (hyper's default).
pub const MAX_HEADERS: usize = errata_wire::MAX_HEADERS;

/// The largest request head, in bytes; hyper's read buffer is capped at the same size. Larger
/// than the longest target, so that a target too long is told apart from a head too large.
pub const MAX_HEAD_BYTES: usize = errata_wire::MAX_HEAD_BYTES;

/// What follows a complete head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many body bytes (zero when there is no body).
    Length(u64),
    /// A chunked body.
    Chunked,
    /// The connection leaves HTTP/1 framing (`CONNECT` or `Upgrade`): no more heads are read.
    Opaque,
}

/// Why a head is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 400: the reason, in words a client can act on.
    Malformed(&'static str),
    /// 414.
    UriTooLong,
    /// 431: too many headers, a header name too long, or a head past [`MAX_HEAD_BYTES`].
    TooLarge,
}

impl Refusal {
    /// The catalog error for this refusal.
    pub fn error(self) -> ApiError {
        match self {
            Refusal::Malformed(reason) => {
                ApiError::condition(Condition::MalformedRequest).arg("reason", reason)
            }
            Refusal::UriTooLong => {
                ApiError::condition(Condition::UriTooLong).arg("limit", errata_wire::MAX_URI_LEN)
            }
            Refusal::TooLarge => {
                ApiError::condition(Condition::HeadersTooLarge).arg("limit", MAX_HEAD_BYTES)
            }
        }
    }
}

impl From<errata_wire::Refusal> for Refusal {
    fn from(r: errata_wire::Refusal) -> Self {
        match r {
            errata_wire::Refusal::Malformed(reason) => Refusal::Malformed(reason),
            // nginx answers 501; the catalog has no condition for it, so it is a malformed
            // request whose reason says what is not supported.
            errata_wire::Refusal::NotImplemented(reason) => Refusal::Malformed(reason),
            errata_wire::Refusal::UriTooLong => Refusal::UriTooLong,
            errata_wire::Refusal::TooLarge => Refusal::TooLarge,
        }
    }
}

/// The verdict on the bytes at the start of a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    /// Not complete yet: read more.
    Partial,
    /// A head errata takes, `len` bytes long (leading empty lines included).
    Complete { len: usize, framing: Framing },
    /// A head errata refuses.
    Refused(Refusal),
}

/// Judges the bytes `buf` that start a request head.
pub fn check(buf: &[u8]) -> Head {
    match errata_wire::parse_request(buf) {
        Ok(None) => Head::Partial,
        Ok(Some(head)) => Head::Complete {
            len: head.len,
            framing: if head.upgrade {
                Framing::Opaque
            } else {
                match head.body {
                    errata_wire::BodyKind::Length(n) => Framing::Length(n),
                    errata_wire::BodyKind::Chunked => Framing::Chunked,
                    // A request has no body that runs until the connection closes.
                    errata_wire::BodyKind::None | errata_wire::BodyKind::UntilClose => {
                        Framing::Length(0)
                    }
                }
            },
        },
        Err(r) => Head::Refused(r.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_get_has_no_body() {
        assert_eq!(
            check(b"GET /v1/x HTTP/1.1\r\nHost: a\r\n\r\nGET"),
            Head::Complete {
                len: 31,
                framing: Framing::Length(0)
            }
        );
    }

    #[test]
    fn framing_follows_content_length_and_transfer_encoding() {
        let h = |s: &str| check(s.as_bytes());
        assert_eq!(
            h("POST / HTTP/1.1\r\ncontent-length: 12\r\n\r\n"),
            Head::Complete {
                len: 39,
                framing: Framing::Length(12)
            }
        );
        assert_eq!(
            h("POST / HTTP/1.1\r\ntransfer-encoding: Chunked\r\n\r\n"),
            Head::Complete {
                len: 47,
                framing: Framing::Chunked
            }
        );
        assert_eq!(
            h("POST / HTTP/1.1\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n"),
            Head::Refused(Refusal::Malformed(
                "Content-Length and Transfer-Encoding are both present"
            ))
        );
        assert_eq!(
            h("POST / HTTP/1.1\r\ntransfer-encoding: chunked, gzip\r\n\r\n"),
            Head::Refused(Refusal::Malformed(
                "Transfer-Encoding must end with chunked"
            ))
        );
        assert_eq!(
            h("POST / HTTP/1.1\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n"),
            Head::Refused(Refusal::Malformed("the Content-Length headers disagree"))
        );
        assert_eq!(
            h("POST / HTTP/1.1\r\ncontent-length: 3\r\ncontent-length: 3\r\n\r\n"),
            Head::Refused(Refusal::Malformed("the Content-Length header is repeated"))
        );
        assert_eq!(
            h("POST / HTTP/1.1\r\ncontent-length: +3\r\n\r\n"),
            Head::Refused(Refusal::Malformed(
                "the Content-Length header is not a number"
            ))
        );
        assert_eq!(
            h("GET / HTTP/1.1\nHost: a\n\n"),
            Head::Refused(Refusal::Malformed(
                "a line of the head ends with a bare CR or LF; lines must end with CRLF"
            ))
        );
        assert_eq!(
            h("GET / HTTP/1.1\r\nupgrade: websocket\r\n\r\n"),
            Head::Complete {
                len: 38,
                framing: Framing::Opaque
            }
        );
    }

    #[test]
    fn a_coding_other_than_chunked_is_a_malformed_request_saying_so() {
        let r = check(b"POST / HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n");
        let reason = "a request's Transfer-Encoding must be exactly chunked";
        assert_eq!(r, Head::Refused(Refusal::Malformed(reason)));
        let Head::Refused(r) = r else { unreachable!() };
        assert_eq!(
            r.error(),
            ApiError::condition(Condition::MalformedRequest).arg("reason", reason)
        );
    }

    #[test]
    fn sizes_have_their_own_answers() {
        let long = format!(
            "GET /{} HTTP/1.1\r\n\r\n",
            "a".repeat(errata_wire::MAX_URI_LEN)
        );
        assert_eq!(check(long.as_bytes()), Head::Refused(Refusal::UriTooLong));
        let huge = format!(
            "GET / HTTP/1.1\r\nx: {}\r\n\r\n",
            "a".repeat(MAX_HEAD_BYTES)
        );
        assert_eq!(check(huge.as_bytes()), Head::Refused(Refusal::TooLarge));
        let mut many = String::from("GET / HTTP/1.1\r\n");
        for i in 0..=MAX_HEADERS {
            many.push_str(&format!("x-{i}: 1\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(check(many.as_bytes()), Head::Refused(Refusal::TooLarge));
        assert_eq!(check(b"GET / HTTP/1.1\r\nhost"), Head::Partial);
        assert_eq!(
            check(b"G\x01T / HTTP/1.1\r\n\r\n"),
            Head::Refused(Refusal::Malformed("the method is not a valid token"))
        );
    }
}
