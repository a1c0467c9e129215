//! [`RequestBuilder`]: one logical request (a method, a path, headers, a JSON body), sent with
//! as many attempts as its retry policy allows.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::error::{Error, RequestError};
use crate::response::Response;
use crate::retry::RetryPolicy;
use crate::send::{self, Plan};

/// The header that makes a non-idempotent request safe to repeat (lower case, as sent).
///
/// ```no_run
/// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
/// // The same as `.idempotency_key("import-42")`:
/// client.post("/v1/imports").header(errata_client::IDEMPOTENCY_KEY, "import-42").send::<()>().await?;
/// # Ok(()) }
/// ```
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// A request being built. Nothing is sent until [`send`](Self::send) or
/// [`send_response`](Self::send_response); a mistake made while building (a header that is not
/// one) is returned from there as [`Error::Request`].
///
/// ```no_run
/// use std::time::Duration;
///
/// #[derive(serde::Serialize)]
/// struct NewReport<'a> { campaign_ids: &'a [&'a str] }
/// #[derive(serde::Deserialize)]
/// struct Report { id: String }
///
/// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
/// let report: Report = client
///     .post("/v1/reports")
///     .json(&NewReport { campaign_ids: &["camp_1", "camp_2"] })
///     .header("x-workspace", "ws_42")
///     .idempotency_key("report-2024-06-camp_1")
///     .timeout(Duration::from_secs(60))
///     .send()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    client: Client,
    method: Method,
    inner: reqwest::RequestBuilder,
    problem: Option<String>,
    idempotency_key: Option<String>,
    timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
}

impl RequestBuilder {
    pub(crate) fn new(client: Client, method: Method, path: &str) -> Self {
        let url = format!("{}/{}", client.inner.base, path.trim_start_matches('/'));
        let mut inner = client
            .inner
            .http
            .request(method.clone(), url)
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some((name, value)) = &client.inner.auth {
            inner = inner.header(name.clone(), value.clone());
        }
        RequestBuilder {
            client,
            method,
            inner,
            problem: None,
            idempotency_key: None,
            timeout: None,
            retry: None,
        }
    }

    fn fail(mut self, problem: String) -> Self {
        self.problem.get_or_insert(problem);
        self
    }

    /// Sets a header (replacing one of the same name). Setting `Idempotency-Key` here is the
    /// same as [`idempotency_key`](Self::idempotency_key).
    ///
    /// ```no_run
    /// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
    /// client.get("/v1/events").header("x-tenant", "acme").send::<serde_json::Value>().await?;
    /// # Ok(()) }
    /// ```
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        let (name, value) = (name.as_ref(), value.as_ref());
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            return self.fail(format!("{name:?} is not a header name"));
        };
        if header.as_str() == IDEMPOTENCY_KEY {
            return self.idempotency_key(value);
        }
        let Ok(value) = HeaderValue::from_str(value) else {
            return self.fail(format!("the value of {name:?} is not a header value"));
        };
        let mut one = HeaderMap::new();
        one.insert(header, value);
        // `headers` replaces what is there (`header` would append a second value).
        self.inner = self.inner.headers(one);
        self
    }

    /// Adds query parameters (anything serde serializes as a sequence of pairs or a struct).
    ///
    /// ```no_run
    /// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
    /// let page: serde_json::Value = client.get("/v1/campaigns").query(&[("limit", "50"), ("after", "camp_9")]).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn query<T: Serialize + ?Sized>(mut self, query: &T) -> Self {
        self.inner = self.inner.query(query);
        self
    }

    /// Sends `body` as JSON (`Content-Type: application/json`).
    ///
    /// ```no_run
    /// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
    /// client.post("/v1/events").json(&serde_json::json!({"category": "click"})).send::<()>().await?;
    /// # Ok(()) }
    /// ```
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        self.inner = self.inner.json(body);
        self
    }

    /// The `Idempotency-Key` of this request, sent on every attempt. Without one, `POST` and
    /// `PATCH` get a random key (unless the client turned that off); set your own to make a
    /// retry *you* do later (a queued job, a restarted process) safe as well.
    ///
    /// ```no_run
    /// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
    /// let order_id = "ord_123";
    /// client.post("/v1/charges").idempotency_key(format!("charge-{order_id}")).send::<()>().await?;
    /// # Ok(()) }
    /// ```
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        if HeaderValue::from_str(&key).is_err() {
            return self.fail("the Idempotency-Key is not a header value".into());
        }
        self.idempotency_key = Some(key);
        self
    }

    /// The time each attempt of this request may take, instead of the client's.
    ///
    /// ```no_run
    /// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
    /// let export: serde_json::Value = client.get("/v1/export").timeout(std::time::Duration::from_secs(120)).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The retry policy of this request, instead of the client's.
    ///
    /// ```no_run
    /// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
    /// use errata_client::RetryPolicy;
    /// let health = client.get("/health").retry(RetryPolicy::never()).send_response().await;
    /// # Ok(()) }
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Sends the request (retrying as the policy allows) and reads a success body as `T`. Use
    /// `()` or `serde_json::Value` when the body does not matter or has no fixed shape.
    ///
    /// ```no_run
    /// #[derive(serde::Deserialize, Debug)]
    /// struct Campaign { id: String, name: String }
    ///
    /// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
    /// let campaign: Campaign = client.get("/v1/campaigns/camp_1").send().await?;
    /// # Ok(()) }
    /// ```
    pub async fn send<T: DeserializeOwned>(self) -> Result<T, Error> {
        self.send_response().await?.json()
    }

    /// Sends the request (retrying as the policy allows) and returns the success response
    /// whole: status, headers, body.
    ///
    /// ```no_run
    /// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
    /// let res = client.delete("/v1/agents/a1").send_response().await?;
    /// assert_eq!(res.status(), 204);
    /// # Ok(()) }
    /// ```
    pub async fn send_response(self) -> Result<Response, Error> {
        if let Some(problem) = self.problem {
            return Err(Error::Request(RequestError { message: problem }));
        }
        let inner = &self.client.inner;
        let idempotent = is_idempotent(&self.method);
        let key = self
            .idempotency_key
            .or_else(|| (!idempotent && inner.idempotency_keys).then(send::new_idempotency_key));
        let mut builder = self.inner;
        if let Some(key) = &key {
            // Checked in `idempotency_key`, or made of hex digits and dashes.
            if let Ok(value) = HeaderValue::from_str(key) {
                builder = builder.header(IDEMPOTENCY_KEY, value);
            }
        }
        let request = builder.build().map_err(|e| {
            Error::Request(RequestError {
                message: e.to_string(),
            })
        })?;
        let plan = Plan {
            policy: self.retry.unwrap_or_else(|| inner.retry.clone()),
            timeout: self.timeout.unwrap_or(inner.timeout),
            repeatable: idempotent || key.is_some(),
        };
        send::execute(inner, request, plan).await
    }
}

/// Methods that may be repeated without changing the outcome (RFC 9110, section 9.2.2).
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotent_methods() {
        for m in [
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ] {
            assert!(is_idempotent(&m), "{m}");
        }
        for m in [Method::POST, Method::PATCH, Method::CONNECT] {
            assert!(!is_idempotent(&m), "{m}");
        }
    }
}
