//! Turning a rendered catalog error into an HTTP response: the one way the gateway answers
//! with an error of its own, on a parsed request or on raw bytes of a connection.

use bytes::{BufMut, Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use errata_core::{ApiError, Catalog, ErrorKind, Format, Rendered};
use http::{HeaderName, HeaderValue, Response, StatusCode};

use crate::reply::Body;

/// Renders `err` with the catalog and builds the response. Headers that are not valid HTTP are
/// dropped rather than failing the response.
pub fn error_response(catalog: &Catalog, err: &ApiError, format: Format) -> Response<Body> {
    rendered_response(catalog.render(err, format))
}

/// The response of a rendered catalog error, carrying its code as [`RenderedCode`].
pub fn rendered_response(rendered: Rendered) -> Response<Body> {
    let mut res = Response::new(Body::full(rendered.body_bytes()));
    *res.status_mut() =
        StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = res.headers_mut();
    for (name, value) in &rendered.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(n, v);
        }
    }
    res.extensions_mut().insert(RenderedCode(rendered.code));
    res
}

/// The catalog code a response carries, for logs and metrics.
#[derive(Clone, Debug)]
pub struct RenderedCode(pub String);

/// A whole HTTP/1.1 response closing the connection, as bytes: for answers given before hyper
/// has a request (a head that does not parse, a slow head, a connection past the cap).
/// Returns the bytes, the status and the catalog code.
pub fn raw_error(
    catalog: &Catalog,
    err: &ApiError,
    request_id: (&HeaderName, &str),
) -> (Bytes, u16, String) {
    let rendered = catalog.render(err, Format::Envelope);
    let body = rendered.body_bytes();
    let reason = StatusCode::from_u16(rendered.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let mut out = BytesMut::with_capacity(256 + body.len());
    out.put_slice(format!("HTTP/1.1 {} {reason}\r\n", rendered.status).as_bytes());
    let mut header = |n: &[u8], v: &[u8]| {
        out.put_slice(n);
        out.put_slice(b": ");
        out.put_slice(v);
        out.put_slice(b"\r\n");
    };
    for (name, value) in &rendered.headers {
        // Only what is valid HTTP goes on the wire.
        if HeaderName::from_bytes(name.as_bytes()).is_ok() && HeaderValue::from_str(value).is_ok() {
            header(name.as_bytes(), value.as_bytes());
        }
    }
    if HeaderValue::from_str(request_id.1).is_ok() {
        header(request_id.0.as_str().as_bytes(), request_id.1.as_bytes());
    }
    header(b"content-length", body.len().to_string().as_bytes());
    header(b"connection", b"close");
    out.put_slice(b"\r\n");
    out.put_slice(&body);
    (out.freeze(), rendered.status, rendered.code)
}

/// Errors rendered once per code, format and arguments, kept per worker: a refusal's answer is
/// then its pieces with only the request id and the instance (the path) filled in. The catalog
/// renders each kind once with two markers in their place (random per gateway, so no argument
/// can spell them), and the body is cut at the markers.
pub struct Prerendered {
    request_id_mark: String,
    instance_mark: String,
    workers: Vec<Mutex<HashMap<String, Arc<Template>>>>,
}

/// The most kinds kept per worker; past it the worker's set starts over (arguments such as an
/// unknown route's path are the client's to vary).
const PRERENDERED_MAX: usize = 512;

/// One rendered kind of error.
pub struct Template {
    pub status: u16,
    pub code: String,
    /// The status line and the rendered headers, each ending CRLF.
    head: Vec<u8>,
    body: Vec<Piece>,
    bodiless: bool,
}

enum Piece {
    Text(Box<[u8]>),
    RequestId,
    Instance,
}

impl Prerendered {
    pub fn new(workers: usize) -> Prerendered {
        let mark = |what: &str| {
            use rand::Rng;
            let n: u128 = rand::rng().random();
            format!("errata{what}{n:032x}")
        };
        Prerendered {
            request_id_mark: mark("rid"),
            instance_mark: mark("ins"),
            workers: (0..workers.max(1))
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
        }
    }

    /// The template of `err` in `format`; `None` for an error with details (rendered whole).
    pub fn get(
        &self,
        catalog: &Catalog,
        worker: usize,
        err: &ApiError,
        format: Format,
    ) -> Option<Arc<Template>> {
        if !err.details.is_empty() {
            return None;
        }
        let key = key_of(err, format);
        let slot = &self.workers[worker % self.workers.len()];
        if let Some(t) = slot.lock().ok()?.get(&key) {
            return Some(Arc::clone(t));
        }
        let marked = err
            .clone()
            .request_id(self.request_id_mark.clone())
            .instance(self.instance_mark.clone());
        let t = Arc::new(self.template(catalog.render(&marked, format)));
        let mut map = slot.lock().ok()?;
        if map.len() >= PRERENDERED_MAX {
            map.clear();
        }
        map.insert(key, Arc::clone(&t));
        Some(t)
    }

    fn template(&self, rendered: Rendered) -> Template {
        let status = rendered.status;
        let mut head = Vec::with_capacity(128);
        let reason = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        head.extend_from_slice(format!("HTTP/1.1 {status} {reason}\r\n").as_bytes());
        for (name, value) in &rendered.headers {
            // The request-id header the rendering carries is written per answer.
            let marked =
                value.contains(&self.request_id_mark) || value.contains(&self.instance_mark);
            if !marked
                && HeaderName::from_bytes(name.as_bytes()).is_ok()
                && HeaderValue::from_str(value).is_ok()
            {
                head.extend_from_slice(name.as_bytes());
                head.extend_from_slice(b": ");
                head.extend_from_slice(value.as_bytes());
                head.extend_from_slice(b"\r\n");
            }
        }
        let bytes = rendered.body_bytes();
        let (rid, ins) = (
            self.request_id_mark.as_bytes(),
            self.instance_mark.as_bytes(),
        );
        let mut body = Vec::new();
        let (mut at, mut from) = (0, 0);
        while at < bytes.len() {
            let rest = &bytes[at..];
            let hole = if rest.starts_with(rid) {
                Some((Piece::RequestId, rid.len()))
            } else if rest.starts_with(ins) {
                Some((Piece::Instance, ins.len()))
            } else {
                None
            };
            match hole {
                Some((piece, len)) => {
                    if from < at {
                        body.push(Piece::Text(bytes[from..at].into()));
                    }
                    body.push(piece);
                    at += len;
                    from = at;
                }
                None => at += 1,
            }
        }
        if from < bytes.len() {
            body.push(Piece::Text(bytes[from..].into()));
        }
        Template {
            status,
            code: rendered.code,
            head,
            body,
            bodiless: status == 204 || status == 304 || status < 200,
        }
    }
}

/// What tells one rendering of an error from another, but for its request id and instance.
fn key_of(err: &ApiError, format: Format) -> String {
    use std::fmt::Write as _;
    let mut key = String::with_capacity(96);
    key.push(match format {
        Format::Envelope => 'e',
        Format::Problem => 'p',
    });
    let _ = match &err.kind {
        ErrorKind::Code(c) => write!(key, "c{c}"),
        ErrorKind::Condition(c) => write!(key, "d{}", c.name()),
        ErrorKind::Status(s) => write!(key, "s{s}"),
        other => write!(key, "k{other:?}"),
    };
    // Separators that JSON text and header values cannot hold unescaped.
    if let Some(v) = &err.variant {
        let _ = write!(key, "\u{1}v{v}");
    }
    if let Some(p) = &err.param {
        let _ = write!(key, "\u{1}p{p}");
    }
    for (n, v) in &err.args {
        let _ = write!(key, "\u{1}a{n}\u{2}{v}");
    }
    if let Some(r) = err.retry_after {
        let _ = write!(key, "\u{1}r{r}");
    }
    for (n, v) in &err.headers {
        let _ = write!(key, "\u{1}h{n}\u{2}{v}");
    }
    key
}

impl Template {
    /// The status line and headers, without the blank line: the rendered headers, the request
    /// id under `request_id_header`, and the body's length.
    pub fn write_head(
        &self,
        out: &mut Vec<u8>,
        request_id_header: &str,
        request_id: &str,
        instance: &str,
    ) {
        out.extend_from_slice(&self.head);
        if HeaderValue::from_str(request_id).is_ok() {
            out.extend_from_slice(request_id_header.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(request_id.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !self.bodiless {
            let instance = escaped(instance);
            let len: usize = self
                .body
                .iter()
                .map(|p| match p {
                    Piece::Text(t) => t.len(),
                    Piece::RequestId => request_id.len(),
                    Piece::Instance => instance.len(),
                })
                .sum();
            out.extend_from_slice(format!("content-length: {len}\r\n").as_bytes());
        }
    }

    /// The body, the request id and instance filled in (nothing for 204 and 304).
    pub fn write_body(&self, out: &mut Vec<u8>, request_id: &str, instance: &str) {
        if self.bodiless {
            return;
        }
        let instance = escaped(instance);
        for p in &self.body {
            match p {
                Piece::Text(t) => out.extend_from_slice(t),
                Piece::RequestId => out.extend_from_slice(request_id.as_bytes()),
                Piece::Instance => out.extend_from_slice(instance.as_bytes()),
            }
        }
    }
}

/// `s` as it stands inside a JSON string.
fn escaped(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    {
        return std::borrow::Cow::Borrowed(s);
    }
    let quoted = serde_json::to_string(s).unwrap_or_default();
    std::borrow::Cow::Owned(quoted[1..quoted.len().saturating_sub(1)].to_owned())
}

#[cfg(test)]
mod tests {
    use errata_core::{Condition, Violation};

    use super::*;

    /// The answer a template gives, split into head and body.
    fn from_template(t: &Template, id: &str, path: &str) -> (String, Vec<u8>) {
        let mut head = Vec::new();
        t.write_head(&mut head, "x-request-id", id, path);
        let mut body = Vec::new();
        t.write_body(&mut body, id, path);
        (String::from_utf8(head).unwrap(), body)
    }

    #[test]
    fn a_prerendered_error_is_the_catalog_s_rendering_with_the_id_and_path_filled_in() {
        let catalog = Catalog::builtin();
        let pre = Prerendered::new(2);
        let errors = [
            ApiError::condition(Condition::MissingKey),
            ApiError::condition(Condition::RateLimited)
                .arg("retry_after", 7)
                .arg("limit", 600)
                .retry_after(7)
                .header("x-ratelimit-remaining", "0"),
            ApiError::condition(Condition::RouteNotFound)
                .arg("method", "GET")
                .arg("path", "/v1/\"quoted\"\\ü"),
            ApiError::condition(Condition::MethodNotAllowed)
                .arg("method", "DELETE")
                .arg("path", "/v1/x")
                .arg("allowed", "GET, HEAD")
                .header("allow", "GET, HEAD"),
            ApiError::status(418),
        ];
        for err in &errors {
            for format in [Format::Envelope, Format::Problem] {
                for (id, path) in [("req_abc123", "/v1/x"), ("req_zzz", "/v1/\"odd\"\\ü\u{7}")] {
                    // Twice: the first renders and keeps, the second reuses.
                    for _ in 0..2 {
                        let t = pre.get(catalog, 1, err, format).unwrap();
                        let want =
                            catalog.render(&err.clone().request_id(id).instance(path), format);
                        let (head, body) = from_template(&t, id, path);
                        assert_eq!(body, want.body_bytes(), "{err:?} {format:?}");
                        assert_eq!(t.status, want.status);
                        assert_eq!(t.code, want.code);
                        for (n, v) in &want.headers {
                            assert!(head.contains(&format!("{n}: {v}\r\n")), "{head}");
                        }
                        assert_eq!(head.matches("x-request-id:").count(), 1, "{head}");
                        assert!(!head.contains("errata"), "{head}");
                        assert!(
                            head.contains(&format!("content-length: {}\r\n", body.len())),
                            "{head}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn errors_with_details_are_not_prerendered_and_the_set_is_bounded() {
        let catalog = Catalog::builtin();
        let pre = Prerendered::new(1);
        let detailed = ApiError::condition(Condition::InvalidFields).details([Violation::new(
            ["name"],
            "is required",
            "required",
        )]);
        assert!(pre.get(catalog, 0, &detailed, Format::Envelope).is_none());
        for i in 0..(PRERENDERED_MAX * 2) {
            let err = ApiError::condition(Condition::RouteNotFound)
                .arg("method", "GET")
                .arg("path", format!("/p{i}"));
            pre.get(catalog, 0, &err, Format::Envelope).unwrap();
        }
        assert!(pre.workers[0].lock().unwrap().len() <= PRERENDERED_MAX);
    }
}
