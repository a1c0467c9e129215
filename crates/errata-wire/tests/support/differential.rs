//! errata-wire's split against a reference splitter built on `httparse` alone, with hyper's
//! lenient framing. Shared by `tests/differential.rs` and the fuzz target `split`.
//!
//! The rules the comparison holds errata-wire to:
//! - where both accept a message, its boundaries are the same;
//! - errata-wire never accepts a message the reference refuses, nor a head with a bare CR or LF;
//! - errata-wire refuses a message the reference accepts (or is still waiting for) only with
//!   one of its strict rules, and only when that message has the feature the rule is about
//!   (checked here independently, e.g. both `Content-Length` and `Transfer-Encoding`).

use std::ops::Range;

use errata_wire::{
    MAX_CHUNK_LINE_BYTES, MAX_CONTENT_LENGTH, MAX_HEAD_BYTES, MAX_HEADERS, MAX_TRAILER_BYTES,
    MAX_URI_LEN, Refusal, split_messages,
};

/// Why the reference stopped splitting.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// Every byte is in a message.
    End,
    /// After a request that leaves HTTP/1.
    Upgrade,
    /// The next message is not complete.
    Incomplete,
    /// The next message is refused.
    Refused(&'static str),
}

/// What the reference makes of a stream.
#[derive(Debug)]
pub struct Reference {
    pub messages: Vec<Range<usize>>,
    pub stop: Stop,
}

/// Splits `stream` as hyper frames requests: `httparse` for heads, `Transfer-Encoding` winning
/// over `Content-Length` when its last coding is chunked, the first `Content-Length` read as
/// Rust reads a `u64`, `httparse::parse_chunk_size` for chunk lines and
/// `httparse::parse_headers` for trailers.
pub fn reference(stream: &[u8]) -> Reference {
    let mut messages = Vec::new();
    let mut at = 0;
    let stop = loop {
        if at == stream.len() {
            break Stop::End;
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let len = match req.parse(&stream[at..]) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => break Stop::Incomplete,
            Err(_) => break Stop::Refused("httparse refuses the head"),
        };
        let minor = req.version.unwrap();
        let mut upgrade = req.method == Some("CONNECT");
        let (mut te, mut cl) = (None, None);
        let mut te_in_http10 = false;
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("transfer-encoding") {
                te_in_http10 |= minor == 0;
                te = Some(h.value);
            } else if h.name.eq_ignore_ascii_case("content-length") {
                cl.get_or_insert(h.value);
            } else if h.name.eq_ignore_ascii_case("upgrade") {
                upgrade = minor == 1;
            }
        }
        if te_in_http10 {
            break Stop::Refused("Transfer-Encoding in HTTP/1.0");
        }
        let body = at + len;
        let end = if let Some(te) = te {
            let last = te.rsplit(|&b| b == b',').next().unwrap_or_default();
            if !last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                break Stop::Refused("Transfer-Encoding does not end with chunked");
            }
            match chunked(&stream[body..]).end {
                Ok(Some(n)) => body + n,
                Ok(None) => break Stop::Incomplete,
                Err(why) => break Stop::Refused(why),
            }
        } else if let Some(cl) = cl {
            let Some(n) = std::str::from_utf8(cl)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
            else {
                break Stop::Refused("Content-Length is not a u64");
            };
            match usize::try_from(n).ok().and_then(|n| body.checked_add(n)) {
                Some(end) if end <= stream.len() => end,
                _ => break Stop::Incomplete,
            }
        } else {
            body
        };
        messages.push(at..end);
        at = end;
        if upgrade {
            break Stop::Upgrade;
        }
    };
    Reference { messages, stop }
}

/// A chunked body as the reference walks it.
pub struct Chunked<'a> {
    /// The length of the body, `None` if incomplete.
    pub end: Result<Option<usize>, &'static str>,
    /// Every chunk-size line seen (CRLF included), the last one maybe incomplete.
    pub lines: Vec<&'a [u8]>,
    /// The trailer section, maybe incomplete.
    pub trailer: Option<&'a [u8]>,
}

pub fn chunked(body: &[u8]) -> Chunked<'_> {
    let mut out = Chunked {
        end: Ok(None),
        lines: Vec::new(),
        trailer: None,
    };
    let mut at = 0;
    loop {
        let (n, size) = match httparse::parse_chunk_size(&body[at..]) {
            Ok(httparse::Status::Complete(c)) => c,
            Ok(httparse::Status::Partial) => {
                out.lines.push(&body[at..]);
                return out;
            }
            Err(_) => {
                out.end = Err("httparse refuses a chunk size");
                return out;
            }
        };
        out.lines.push(&body[at..at + n]);
        at += n;
        if size == 0 {
            break;
        }
        let left = (body.len() - at) as u64;
        if left < size {
            return out;
        }
        at += size as usize;
        for want in [b'\r', b'\n'] {
            match body.get(at) {
                None => return out,
                Some(&b) if b == want => at += 1,
                Some(_) => {
                    out.end = Err("chunk data is not followed by CRLF");
                    return out;
                }
            }
        }
    }
    let mut trailers = vec![httparse::EMPTY_HEADER; 4096];
    match httparse::parse_headers(&body[at..], &mut trailers) {
        Ok(httparse::Status::Complete((n, _))) => {
            out.trailer = Some(&body[at..at + n]);
            out.end = Ok(Some(at + n));
        }
        Ok(httparse::Status::Partial) => out.trailer = Some(&body[at..]),
        Err(_) => out.end = Err("httparse refuses the trailers"),
    }
    out
}

/// Checks errata-wire's split of `stream` against the reference's.
pub fn check(stream: &[u8]) -> Result<(), String> {
    let (messages, refusal) = split_messages(stream);
    let ours: Vec<Range<usize>> = messages.iter().map(|m| m.whole.clone()).collect();
    let theirs = reference(stream);
    let shown = || {
        let s: String = String::from_utf8_lossy(stream).chars().take(600).collect();
        format!("\nstream: {s:?}\nerrata-wire: {ours:?}, {refusal:?}\nreference: {theirs:?}")
    };
    // Whatever httparse takes, an accepted head ends every line with CRLF.
    if let Some(m) = messages
        .iter()
        .find(|m| has_bare_line_end(&stream[m.head.clone()]))
    {
        return Err(format!(
            "errata-wire accepts a bare CR or LF in {:?}{}",
            m.head,
            shown()
        ));
    }
    let common = ours.len().min(theirs.messages.len());
    if ours[..common] != theirs.messages[..common] {
        return Err(format!("the boundaries differ{}", shown()));
    }
    if ours.len() > theirs.messages.len() {
        return Err(format!(
            "errata-wire accepts a message the reference does not{}",
            shown()
        ));
    }
    let at = ours.last().map_or(0, |m| m.end);
    if ours.len() < theirs.messages.len() {
        // The reference accepted the next message.
        let Some(r) = refusal else {
            return Err(format!(
                "errata-wire stops at a message the reference accepts{}",
                shown()
            ));
        };
        return justified(r, &stream[at..]).map_err(|e| format!("{e}{}", shown()));
    }
    match (&theirs.stop, refusal) {
        (Stop::End | Stop::Upgrade, None) => Ok(()),
        (Stop::Refused(_), Some(_)) => Ok(()),
        (Stop::Incomplete, None) => Ok(()),
        (Stop::Incomplete, Some(r)) => {
            justified(r, &stream[at..]).map_err(|e| format!("{e}{}", shown()))
        }
        (Stop::Refused(_), None) => Err(format!(
            "errata-wire does not refuse what the reference refuses{}",
            shown()
        )),
        (Stop::End | Stop::Upgrade, Some(_)) => {
            Err(format!("errata-wire refuses past the end{}", shown()))
        }
    }
}

/// `Ok` if `msg` (a message and what follows it) has the feature the strict rule behind
/// `refusal` is about.
pub fn justified(refusal: Refusal, msg: &[u8]) -> Result<(), String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(msg) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if refusal == Refusal::TooLarge => {
            return if msg.len() >= MAX_HEAD_BYTES {
                Ok(())
            } else {
                Err("TooLarge on a short incomplete head".into())
            };
        }
        other => return Err(format!("{refusal:?}, but httparse says {other:?}")),
    };
    let head = &msg[..len];
    let target = req.path.unwrap_or_default();
    let minor = req.version.unwrap_or_default();
    let values = |name: &str| {
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
            .collect::<Vec<_>>()
    };
    let (cl, te) = (values("content-length"), values("transfer-encoding"));
    let plain = |v: &[u8]| -> Option<u64> {
        if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(v).ok()?.parse().ok()
    };
    let chunked_only = |v: &[u8]| v.trim_ascii().eq_ignore_ascii_case(b"chunked");
    let last_chunked = |v: &[u8]| {
        v.rsplit(|&b| b == b',')
            .next()
            .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"))
    };
    let body = chunked(&msg[len..]);
    let lines = &body.lines;
    let trailer = body.trailer.unwrap_or_default();
    let ok = match refusal {
        Refusal::TooLarge => {
            len > MAX_HEAD_BYTES
                || req.headers.iter().any(|h| h.name.len() > 65_535)
                || cl
                    .first()
                    .and_then(|v| plain(v))
                    .is_some_and(|n| n > MAX_CONTENT_LENGTH)
        }
        Refusal::UriTooLong => target.len() > MAX_URI_LEN,
        Refusal::NotImplemented(_) => te.iter().any(|v| !chunked_only(v)),
        Refusal::Malformed(reason) => match reason {
            "Content-Length and Transfer-Encoding are both present" => {
                !cl.is_empty() && !te.is_empty()
            }
            "the Content-Length header is not a number" => cl.iter().any(|v| plain(v).is_none()),
            "the Content-Length header is repeated" | "the Content-Length headers disagree" => {
                cl.len() > 1
            }
            "the Transfer-Encoding header is repeated" => te.len() > 1,
            "Transfer-Encoding is not allowed in HTTP/1.0" => minor == 0 && !te.is_empty(),
            "Transfer-Encoding must end with chunked" => te.iter().any(|v| !last_chunked(v)),
            "a line of the head ends with a bare CR or LF; lines must end with CRLF" => {
                has_bare_line_end(head)
            }
            "the request target is not a valid URI" => http::Uri::try_from(target).is_err(),
            // hyper lets the Upgrade header make it a plain request; RFC 9110, a tunnel.
            "an HTTP/1.0 CONNECT request has an Upgrade header" => {
                req.method == Some("CONNECT") && minor == 0 && !values("upgrade").is_empty()
            }
            // Chunked bodies: where httparse is more lenient.
            "a chunk size is not a hexadecimal number" => lines
                .iter()
                .any(|l| !l.first().is_some_and(u8::is_ascii_hexdigit)),
            "a chunk-size line does not end with CRLF" => {
                lines.iter().any(|l| has_bare_line_end(l))
            }
            "a chunk extension contains a control character" => lines.iter().any(|l| {
                l.iter()
                    .any(|&b| (b < 0x20 && b != b'\t' && b != b'\r' && b != b'\n') || b == 0x7f)
            }),
            "a chunk-size line is longer than 4096 bytes" => {
                lines.iter().any(|l| l.len() > MAX_CHUNK_LINE_BYTES)
            }
            "a trailer line is not a header field ending with CRLF" => has_bare_line_end(trailer),
            "the trailer section is larger than 8192 bytes" => trailer.len() > MAX_TRAILER_BYTES,
            _ => false,
        },
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{refusal:?} where the message has no such feature"))
    }
}

/// Whether `bytes` has an LF without a CR before it, or a CR with something else after it (a
/// CR at the very end may still get its LF).
fn has_bare_line_end(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, &b)| match b {
        b'\n' => i == 0 || bytes[i - 1] != b'\r',
        b'\r' => bytes.get(i + 1).is_some_and(|&n| n != b'\n'),
        _ => false,
    })
}
