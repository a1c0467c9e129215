//! A recorded answer: status, the headers worth replaying, the body and the catalog code, with a
//! binary-safe encoding for stores that keep bytes (Redis).

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

/// The header a replayed answer carries.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Headers that belong to one response, not to the answer: connection headers, the length
/// (the body's own), the date, rate-limit state (the replaying request's is sent instead).
const PER_RESPONSE: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "date",
    "idempotent-replayed",
];

/// One finished answer, as replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub status: u16,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// The catalog code of an error answer, for logs and metrics of the replays.
    pub code: Option<String>,
}

/// The headers of `headers` worth replaying; `request_id` is the catalog's request-id header,
/// which every replay gets anew.
pub fn recordable(headers: &HeaderMap, request_id: &str) -> Vec<(HeaderName, HeaderValue)> {
    headers
        .iter()
        .filter(|(n, _)| {
            let n = n.as_str();
            !(PER_RESPONSE.contains(&n)
                || n.eq_ignore_ascii_case(request_id)
                || n.starts_with("ratelimit")
                || n.starts_with("x-ratelimit"))
        })
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

impl Record {
    /// The bytes a store keeps: a version byte, then status, code, headers and body, each
    /// length-prefixed (big-endian).
    pub fn encode(&self) -> Vec<u8> {
        let code = self.code.as_deref().unwrap_or("");
        let mut out = Vec::with_capacity(
            16 + code.len()
                + self.body.len()
                + self
                    .headers
                    .iter()
                    .map(|(n, v)| 6 + n.as_str().len() + v.len())
                    .sum::<usize>(),
        );
        out.push(VERSION);
        out.extend_from_slice(&self.status.to_be_bytes());
        put(&mut out, code.as_bytes());
        out.extend_from_slice(&(self.headers.len() as u32).to_be_bytes());
        for (n, v) in &self.headers {
            put(&mut out, n.as_str().as_bytes());
            put(&mut out, v.as_bytes());
        }
        put(&mut out, &self.body);
        out
    }

    /// Reads what [`Record::encode`] wrote; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        let mut r = Reader(bytes);
        if r.take(1)? != [VERSION] {
            return None;
        }
        let status = u16::from_be_bytes(r.take(2)?.try_into().ok()?);
        let code = std::str::from_utf8(r.field()?).ok()?;
        let count = u32::from_be_bytes(r.take(4)?.try_into().ok()?);
        let mut headers = Vec::new();
        for _ in 0..count {
            let n = HeaderName::from_bytes(r.field()?).ok()?;
            let v = HeaderValue::from_bytes(r.field()?).ok()?;
            headers.push((n, v));
        }
        let body = Bytes::copy_from_slice(r.field()?);
        if !r.0.is_empty() {
            return None;
        }
        Some(Record {
            status,
            headers,
            body,
            code: (!code.is_empty()).then(|| code.to_owned()),
        })
    }

    /// About how many bytes the record holds, for memory budgets.
    pub fn size(&self) -> usize {
        64 + self.body.len()
            + self.code.as_ref().map_or(0, String::len)
            + self
                .headers
                .iter()
                .map(|(n, v)| 32 + n.as_str().len() + v.len())
                .sum::<usize>()
    }
}

const VERSION: u8 = 1;

fn put(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u32).to_be_bytes());
    out.extend_from_slice(field);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn field(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().ok()?);
        self.take(usize::try_from(len).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            status: 201,
            headers: vec![
                (
                    HeaderName::from_static("content-type"),
                    HeaderValue::from_static("application/json"),
                ),
                (
                    HeaderName::from_static("set-cookie"),
                    HeaderValue::from_static("a=1"),
                ),
                (
                    HeaderName::from_static("set-cookie"),
                    HeaderValue::from_static("b=2"),
                ),
            ],
            body: Bytes::from_static(b"\x00\xff{\"id\":\"ord_1\"}\r\n"),
            code: None,
        }
    }

    #[test]
    fn records_round_trip_byte_for_byte() {
        let r = sample();
        assert_eq!(Record::decode(&r.encode()), Some(r));
        let e = Record {
            status: 409,
            headers: Vec::new(),
            body: Bytes::new(),
            code: Some("conflict".into()),
        };
        assert_eq!(Record::decode(&e.encode()), Some(e));
    }

    #[test]
    fn anything_else_does_not_decode() {
        let bytes = sample().encode();
        assert_eq!(Record::decode(&bytes[..bytes.len() - 1]), None);
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Record::decode(&longer), None);
        assert_eq!(Record::decode(b""), None);
        assert_eq!(Record::decode(b"\x02rest"), None);
    }

    #[test]
    fn per_response_headers_are_not_recorded() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("content-type", "application/json"),
            ("content-length", "12"),
            ("date", "Sun, 15 Nov 2026 00:00:00 GMT"),
            ("x-request-id", "req_1"),
            ("ratelimit", "\"rate\";r=1;t=1"),
            ("x-ratelimit-remaining", "1"),
            ("transfer-encoding", "chunked"),
            ("location", "/v1/orders/ord_1"),
        ] {
            h.append(n, HeaderValue::from_static(v));
        }
        let kept: Vec<_> = recordable(&h, "X-Request-Id")
            .into_iter()
            .map(|(n, _)| n.as_str().to_owned())
            .collect();
        assert_eq!(kept, ["content-type", "location"]);
    }
}
