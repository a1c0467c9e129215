//! Reading a request head the way hyper's HTTP/1 server does, so that a head hyper would refuse
//! is answered in the catalog's envelope instead of with hyper's empty 400, 414 or 431.
//!
//! [`check`] accepts exactly the heads hyper 1's server accepts with errata's settings (the
//! default `httparse` parser config, at most [`MAX_HEADERS`] headers, a head of at most
//! [`MAX_HEAD_BYTES`]), and tells how long the body that follows is, as hyper will frame it.
//! hyper still parses and frames every request; this check only decides who answers a refusal.

use errata_core::{ApiError, Condition};

/// The most headers a request may carry (hyper's default).
pub const MAX_HEADERS: usize = 100;

/// The largest request head, in bytes; hyper's read buffer is capped at the same size. Larger
/// than the longest target, so that a target too long is told apart from a head too large.
pub const MAX_HEAD_BYTES: usize = 128 * 1024;

/// The longest request target hyper takes (`u16::MAX - 1`).
const MAX_URI_LEN: usize = (u16::MAX - 1) as usize;

/// The largest body length hyper can represent (`u64::MAX - 2`).
const MAX_BODY_LEN: u64 = u64::MAX - 2;

/// What follows a complete head, as hyper frames it.
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
                ApiError::condition(Condition::UriTooLong).arg("limit", MAX_URI_LEN)
            }
            Refusal::TooLarge => {
                ApiError::condition(Condition::HeadersTooLarge).arg("limit", MAX_HEAD_BYTES)
            }
        }
    }
}

/// The verdict on the bytes at the start of a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    /// Not complete yet: read more.
    Partial,
    /// A head hyper accepts, `len` bytes long (leading empty lines included).
    Complete { len: usize, framing: Framing },
    /// A head hyper refuses.
    Refused(Refusal),
}

/// Judges the bytes `buf` that start a request head.
pub fn check(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            return if buf.len() >= MAX_HEAD_BYTES {
                Head::Refused(Refusal::TooLarge)
            } else {
                Head::Partial
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Head::Refused(Refusal::TooLarge),
        Err(httparse::Error::Token) if req.method.is_none() => {
            return Head::Refused(Refusal::Malformed("the method is not a valid token"));
        }
        Err(httparse::Error::Token) => {
            return Head::Refused(Refusal::Malformed("the request target is not valid"));
        }
        Err(httparse::Error::Version) => {
            return Head::Refused(Refusal::Malformed(
                "the HTTP version is not HTTP/1.0 or 1.1",
            ));
        }
        Err(_) => {
            return Head::Refused(Refusal::Malformed("the request head is not valid HTTP/1.1"));
        }
    };
    // hyper reads at most its buffer's size before parsing.
    if len > MAX_HEAD_BYTES {
        return Head::Refused(Refusal::TooLarge);
    }
    match judge(&req) {
        Ok(framing) => Head::Complete { len, framing },
        Err(r) => Head::Refused(r),
    }
}

/// The checks hyper makes on a head `httparse` completed, in hyper's order.
fn judge(req: &httparse::Request<'_, '_>) -> Result<Framing, Refusal> {
    let (Some(method), Some(path), Some(version)) = (req.method, req.path, req.version) else {
        return Err(Refusal::Malformed("the request line is incomplete"));
    };
    if path.len() > MAX_URI_LEN {
        return Err(Refusal::UriTooLong);
    }
    let method = http::Method::from_bytes(method.as_bytes())
        .map_err(|_| Refusal::Malformed("the method is not a valid token"))?;
    if req.headers.iter().any(|h| h.name.len() >= 1 << 16) {
        return Err(Refusal::TooLarge);
    }
    if http::Uri::try_from(path).is_err() {
        return Err(Refusal::Malformed("the request target is not a valid URI"));
    }
    let http11 = version == 1;
    let mut framing = Framing::Length(0);
    let mut content_length: Option<u64> = None;
    let (mut is_te, mut is_te_chunked) = (false, false);
    let mut upgrade = method == http::Method::CONNECT;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if !http11 {
                return Err(Refusal::Malformed(
                    "Transfer-Encoding is not allowed in HTTP/1.0",
                ));
            }
            is_te = true;
            content_length = None;
            is_te_chunked = last_coding_is_chunked(h.value);
            if is_te_chunked {
                framing = Framing::Chunked;
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            if is_te {
                continue;
            }
            let len = digits(h.value).ok_or(Refusal::Malformed(
                "the Content-Length header is not a number",
            ))?;
            match content_length {
                Some(prev) if prev != len => {
                    return Err(Refusal::Malformed("the Content-Length headers disagree"));
                }
                Some(_) => continue,
                None => {}
            }
            if len > MAX_BODY_LEN {
                return Err(Refusal::TooLarge);
            }
            framing = Framing::Length(len);
            content_length = Some(len);
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            upgrade = http11;
        }
    }
    if is_te && !is_te_chunked {
        return Err(Refusal::Malformed(
            "Transfer-Encoding must end with chunked",
        ));
    }
    Ok(if upgrade { Framing::Opaque } else { framing })
}

/// Whether the last coding of a `Transfer-Encoding` value is `chunked` (hyper reads only the
/// last header line's last coding).
fn last_coding_is_chunked(value: &[u8]) -> bool {
    std::str::from_utf8(value)
        .ok()
        .filter(|s| s.bytes().all(|b| b == b'\t' || (b' '..0x7f).contains(&b)))
        .and_then(|s| s.rsplit(',').next())
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"))
}

/// A non-empty run of ASCII digits as a number, without a sign and without overflow.
fn digits(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u64, |n, &b| match b {
        b'0'..=b'9' => n.checked_mul(10)?.checked_add(u64::from(b - b'0')),
        _ => None,
    })
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
        assert!(matches!(
            h("POST / HTTP/1.1\r\ncontent-length: 3\r\ntransfer-encoding: gzip, chunked\r\n\r\n"),
            Head::Complete {
                framing: Framing::Chunked,
                ..
            }
        ));
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
            h("POST / HTTP/1.1\r\ncontent-length: +3\r\n\r\n"),
            Head::Refused(Refusal::Malformed(
                "the Content-Length header is not a number"
            ))
        );
        assert!(matches!(
            h("GET / HTTP/1.1\r\nupgrade: websocket\r\n\r\n"),
            Head::Complete {
                framing: Framing::Opaque,
                ..
            }
        ));
    }

    #[test]
    fn sizes_have_their_own_answers() {
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_URI_LEN));
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
