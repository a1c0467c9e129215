//! A request head: parsed once, judged strictly, kept as ranges into the caller's buffer.

use std::ops::Range;

use crate::fields::{self, Fields, Framing, offset};
use crate::{BodyKind, HeaderAt, MAX_HEAD_BYTES, MAX_HEADERS, MAX_URI_LEN, Refusal, target};

/// A request head that passed every check. Ranges index the buffer it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// Bytes of the head, through the blank line (leading empty lines included).
    pub len: usize,
    pub method: Range<usize>,
    pub target: Range<usize>,
    /// `HTTP/1.<minor>`: 0 or 1.
    pub minor: u8,
    pub headers: Vec<HeaderAt>,
    /// Never [`BodyKind::UntilClose`].
    pub body: BodyKind,
    /// HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive` (and
    /// no `close`).
    pub keep_alive: bool,
    /// `Expect: 100-continue` (case-insensitive) on HTTP/1.1; HTTP/1.0 clients get no 100.
    pub expect_continue: bool,
    /// `CONNECT`, or an `Upgrade` header on HTTP/1.1: after this message (and its body, if
    /// framed) the connection leaves HTTP/1.
    pub upgrade: bool,
}

impl RequestHead {
    pub fn method<'b>(&self, buf: &'b [u8]) -> &'b str {
        text(buf, &self.method)
    }

    pub fn target<'b>(&self, buf: &'b [u8]) -> &'b str {
        text(buf, &self.target)
    }

    /// The target's path: without `?query` or `#fragment`; for an absolute-form target
    /// (`http://host/p?q`) the path after the authority (`/` when there is none). `*` and an
    /// authority-form target (`CONNECT host:443`) are returned as they are.
    pub fn path<'b>(&self, buf: &'b [u8]) -> &'b str {
        let t = self.target(buf);
        let from_path = match t.find("://") {
            Some(i) if !t.starts_with('/') => {
                let after = &t[i + 3..];
                match after.find(['/', '?', '#']) {
                    Some(j) if after.as_bytes()[j] == b'/' => &after[j..],
                    _ => return "/",
                }
            }
            _ => t,
        };
        let end = from_path.find(['?', '#']).unwrap_or(from_path.len());
        &from_path[..end]
    }

    /// The first header named `name` (case-insensitive).
    pub fn header<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        self.headers_named(buf, name).next()
    }

    /// Every header named `name` (case-insensitive), in order.
    pub fn headers_named<'a, 'b>(
        &'a self,
        buf: &'b [u8],
        name: &'a str,
    ) -> impl Iterator<Item = &'b [u8]> + 'a
    where
        'b: 'a,
    {
        named(&self.headers, buf, name)
    }
}

pub(crate) fn named<'a, 'b: 'a>(
    headers: &'a [HeaderAt],
    buf: &'b [u8],
    name: &'a str,
) -> impl Iterator<Item = &'b [u8]> + 'a {
    headers
        .iter()
        .filter(move |h| buf[h.name.clone()].eq_ignore_ascii_case(name.as_bytes()))
        .map(move |h| &buf[h.value.clone()])
}

/// A range of `buf` known to hold ASCII (method, target).
fn text<'b>(buf: &'b [u8], range: &Range<usize>) -> &'b str {
    std::str::from_utf8(&buf[range.clone()]).unwrap_or_default()
}

/// Parses and judges the request head at the start of `buf`.
///
/// `Ok(None)`: the head is not complete yet (and `buf` is shorter than [`MAX_HEAD_BYTES`]; at
/// or past it the answer is [`Refusal::TooLarge`]). Bytes after the head are not looked at.
pub fn parse_request(buf: &[u8]) -> Result<Option<RequestHead>, Refusal> {
    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut raw);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
            return Err(Refusal::TooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::Token) if req.method.is_none() => {
            return Err(Refusal::Malformed("the method is not a valid token"));
        }
        Err(httparse::Error::Token) => {
            return Err(Refusal::Malformed("the request target is not valid"));
        }
        Err(httparse::Error::Version) => {
            return Err(Refusal::Malformed(
                "the HTTP version is not HTTP/1.0 or 1.1",
            ));
        }
        Err(e) => {
            return Err(fields::header_error(
                buf,
                e,
                "the request head is not valid HTTP/1.1",
            ));
        }
    };
    if len > MAX_HEAD_BYTES {
        return Err(Refusal::TooLarge);
    }
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(Refusal::Malformed("the request line is incomplete"));
    };
    if path.len() > MAX_URI_LEN {
        return Err(Refusal::UriTooLong);
    }
    let fields = Fields::read(buf, req.headers)?;
    if !target::is_valid(path) {
        return Err(Refusal::Malformed("the request target is not a valid URI"));
    }
    fields::check_line_ends(&buf[..len])?;
    let body = match fields.framing(minor, true)? {
        Framing::None => BodyKind::None,
        Framing::Length(n) => BodyKind::Length(n),
        Framing::Chunked => BodyKind::Chunked,
    };
    let http11 = minor == 1;
    let connect = method == "CONNECT";
    if connect && !http11 && fields.upgrade {
        // RFC 9110 ignores Upgrade in HTTP/1.0, so this is a tunnel; hyper lets the Upgrade
        // header turn it back into a plain request. Read two ways: refused.
        return Err(Refusal::Malformed(
            "an HTTP/1.0 CONNECT request has an Upgrade header",
        ));
    }
    let (m, t) = (offset(buf, method.as_bytes()), offset(buf, path.as_bytes()));
    Ok(Some(RequestHead {
        len,
        method: m..m + method.len(),
        target: t..t + path.len(),
        minor,
        keep_alive: fields.persistent(minor),
        expect_continue: http11 && fields.expect_continue,
        upgrade: connect || (http11 && fields.upgrade),
        headers: fields.headers,
        body,
    }))
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
