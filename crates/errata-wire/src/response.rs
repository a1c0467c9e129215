//! A response head from an upstream, judged as strictly as a request's: an upstream whose
//! framing could be read two ways is treated as broken, never guessed at.

use crate::fields::{self, Fields, Framing};
use crate::request::named;
use crate::{BodyKind, HeaderAt, MAX_HEAD_BYTES, MAX_HEADERS, Refusal};

/// A response head that passed every check. Ranges index the buffer it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// Bytes of the head, through the blank line (leading empty lines included).
    pub len: usize,
    /// 100 to 999.
    pub status: u16,
    /// `HTTP/1.<minor>`: 0 or 1.
    pub minor: u8,
    pub headers: Vec<HeaderAt>,
    /// [`BodyKind::None`] for 1xx, 204, 304 and any response to `HEAD`.
    pub body: BodyKind,
    /// Whether the upstream connection may carry another request after this response:
    /// HTTP/1.1 without `Connection: close`, HTTP/1.0 with `Connection: keep-alive`, and never
    /// after a body that ends when the connection closes.
    pub keep_alive: bool,
}

impl ResponseHead {
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

/// Parses and judges the response head at the start of `buf`; `to_head`: the request was
/// `HEAD`, so no body follows whatever the headers say.
///
/// `Ok(None)`: not complete yet (and shorter than [`MAX_HEAD_BYTES`]). A response to `CONNECT`
/// or a `101` is the caller's to handle: this reads only HTTP/1 framing.
pub fn parse_response(buf: &[u8], to_head: bool) -> Result<Option<ResponseHead>, Refusal> {
    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut raw);
    let len = match res.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
            return Err(Refusal::TooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::Version) => {
            return Err(Refusal::Malformed(
                "the HTTP version is not HTTP/1.0 or 1.1",
            ));
        }
        Err(httparse::Error::Status) => {
            return Err(Refusal::Malformed("the status line is not valid"));
        }
        Err(e) => {
            return Err(fields::header_error(
                buf,
                e,
                "the response head is not valid HTTP/1.1",
            ));
        }
    };
    if len > MAX_HEAD_BYTES {
        return Err(Refusal::TooLarge);
    }
    let (Some(minor), Some(status)) = (res.version, res.code) else {
        return Err(Refusal::Malformed("the status line is incomplete"));
    };
    if status < 100 {
        return Err(Refusal::Malformed("the status code is not valid"));
    }
    let fields = Fields::read(buf, res.headers)?;
    fields::check_line_ends(&buf[..len])?;
    let framing = fields.framing(minor, false)?;
    let body = if to_head || status < 200 || status == 204 || status == 304 {
        BodyKind::None
    } else {
        match framing {
            Framing::Chunked => BodyKind::Chunked,
            Framing::Length(n) => BodyKind::Length(n),
            Framing::None => BodyKind::UntilClose,
        }
    };
    Ok(Some(ResponseHead {
        len,
        status,
        minor,
        keep_alive: body != BodyKind::UntilClose && fields.persistent(minor),
        headers: fields.headers,
        body,
    }))
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
