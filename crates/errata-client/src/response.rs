//! [`Response`]: a success, with its status, headers and body, for callers who want more than
//! the typed body [`crate::RequestBuilder::send`] gives.

use std::borrow::Cow;

use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;

use crate::error::{DecodeError, Error};

/// A response with a status below 400.
///
/// ```no_run
/// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
/// let res = client.get("/v1/campaigns").send_response().await?;
/// println!("{} after {} attempts, request {:?}", res.status(), res.attempts(), res.request_id());
/// println!("remaining: {:?}", res.headers().get("ratelimit-remaining"));
/// let campaigns: Vec<serde_json::Value> = res.json()?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Response {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
    pub(crate) request_id: Option<String>,
    pub(crate) attempts: u32,
}

impl Response {
    /// The HTTP status.
    ///
    /// ```no_run
    /// # fn f(res: errata_client::Response) {
    /// let created = res.status() == 201;
    /// # }
    /// ```
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The response headers.
    ///
    /// ```no_run
    /// # fn f(res: errata_client::Response) {
    /// let etag = res.headers().get("etag");
    /// # }
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body as received.
    ///
    /// ```no_run
    /// # fn f(res: errata_client::Response) {
    /// println!("{} bytes", res.body().len());
    /// # }
    /// ```
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as text (invalid UTF-8 replaced).
    ///
    /// ```no_run
    /// # fn f(res: errata_client::Response) {
    /// println!("{}", res.text());
    /// # }
    /// ```
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The request id, from the catalog's request-id header.
    ///
    /// ```no_run
    /// # fn f(res: errata_client::Response) {
    /// println!("{}", res.request_id().unwrap_or("-"));
    /// # }
    /// ```
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// How many attempts it took.
    ///
    /// ```no_run
    /// # fn f(res: errata_client::Response) {
    /// if res.attempts() > 1 { println!("succeeded on a retry"); }
    /// # }
    /// ```
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The body as `T`. An empty body (204 No Content) reads as JSON `null`, so `()` and
    /// `Option<_>` accept it.
    ///
    /// ```no_run
    /// # fn f(res: errata_client::Response) -> Result<(), errata_client::Error> {
    /// #[derive(serde::Deserialize)]
    /// struct Campaign { id: String }
    /// let campaign: Campaign = res.json()?;
    /// # Ok(()) }
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let bytes: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &self.body
        };
        serde_json::from_slice(bytes).map_err(|source| {
            Error::Decode(DecodeError {
                status: self.status,
                request_id: self.request_id.clone(),
                body: self.body.clone(),
                source,
                attempts: self.attempts,
            })
        })
    }
}
