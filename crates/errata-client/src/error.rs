//! [`Error`]: everything a request can end in other than success, with one kind per cause.
//!
//! Three kinds are failures of the call itself, as Kaplaix's SDK names them (`KaplaixError`,
//! `KaplaixNetworkError`, `KaplaixTimeoutError`): [`Error::Api`], [`Error::Network`] and
//! [`Error::Timeout`]. Two more are mistakes on the caller's side that no retry fixes and that
//! would be misreported as any of those three: [`Error::Decode`] (a success whose body is not
//! the type asked for) and [`Error::Request`] (a request that could not be built).

use std::fmt;
use std::time::Duration;

use errata_core::Diagnostics;

use crate::api_error::ApiError;

/// A request that did not succeed.
///
/// ```no_run
/// use errata_client::{Client, Error};
///
/// # async fn run(client: Client) {
/// match client.get("/v1/campaigns/camp_1").send::<serde_json::Value>().await {
///     Ok(campaign) => println!("{campaign}"),
///     Err(Error::Api(e)) if e.code() == Some("resource_not_found") => println!("no such campaign"),
///     Err(Error::Api(e)) if e.code() == Some("quota_exceeded") => println!("quota spent: upgrade"),
///     Err(Error::Timeout(e)) => println!("gave up: {e}"),
///     Err(e) => eprintln!("{e} (retryable: {})", e.is_retryable()),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API answered with an error status.
    #[error(transparent)]
    Api(Box<ApiError>),
    /// No answer arrived: the connection could not be made or broke.
    #[error(transparent)]
    Network(NetworkError),
    /// No answer arrived in time.
    #[error(transparent)]
    Timeout(TimeoutError),
    /// A success arrived, but its body is not the type the caller asked for.
    #[error(transparent)]
    Decode(DecodeError),
    /// The request could not be built (a path that makes no URL, a header that is not one, a
    /// body that does not serialize); nothing was sent.
    #[error(transparent)]
    Request(RequestError),
}

impl Error {
    /// Whether trying again can help: the catalog says so for the API's code (408, 429 and 5xx
    /// for a body outside the catalog); network failures and timeouts always; never a decode
    /// or request error. The client has already retried as far as its policy allows.
    ///
    /// ```
    /// # fn f(err: errata_client::Error) {
    /// if err.is_retryable() {
    ///     // queue the job for later
    /// }
    /// # }
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(e) => e.is_retryable(),
            Error::Network(_) | Error::Timeout(_) => true,
            Error::Decode(_) | Error::Request(_) => false,
        }
    }

    /// The API's error code, when the API answered with an error of its catalog.
    ///
    /// ```
    /// # fn f(err: errata_client::Error) {
    /// if err.code() == Some("rate_limit_exceeded") { /* slow down */ }
    /// # }
    /// ```
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api(e) => e.code(),
            _ => None,
        }
    }

    /// The request id of the response, when one arrived (from the body, else the header).
    /// Network failures and timeouts have none: no response arrived.
    ///
    /// ```
    /// # fn f(err: errata_client::Error) {
    /// eprintln!("failed: {err} [request {}]", err.request_id().unwrap_or("-"));
    /// # }
    /// ```
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api(e) => e.request_id(),
            Error::Decode(e) => e.request_id(),
            _ => None,
        }
    }

    /// The HTTP status, when a response arrived.
    ///
    /// ```
    /// # fn f(err: errata_client::Error) {
    /// let not_found = err.status() == Some(404);
    /// # }
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status()),
            Error::Decode(e) => Some(e.status()),
            _ => None,
        }
    }

    /// How long the server asked to wait before a retry, when it said.
    ///
    /// ```
    /// # fn f(err: errata_client::Error) {
    /// if let Some(wait) = err.retry_after() { println!("try again in {wait:?}"); }
    /// # }
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api(e) => e.retry_after(),
            _ => None,
        }
    }

    /// How many attempts were made (0 for a request that could not be built).
    ///
    /// ```
    /// # fn f(err: errata_client::Error) {
    /// println!("failed after {} attempts", err.attempts());
    /// # }
    /// ```
    pub fn attempts(&self) -> u32 {
        match self {
            Error::Api(e) => e.attempts(),
            Error::Network(e) => e.attempts,
            Error::Timeout(e) => e.attempts,
            Error::Decode(e) => e.attempts,
            Error::Request(_) => 0,
        }
    }

    /// The API error, if this is one.
    ///
    /// ```
    /// # fn f(err: errata_client::Error) {
    /// if let Some(api) = err.as_api() { println!("{:?}", api.details()); }
    /// # }
    /// ```
    pub fn as_api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn set_attempts(&mut self, n: u32) {
        match self {
            Error::Api(e) => e.attempts = n,
            Error::Network(e) => e.attempts = n,
            Error::Timeout(e) => e.attempts = n,
            Error::Decode(e) => e.attempts = n,
            Error::Request(_) => {}
        }
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(Box::new(e))
    }
}

/// The connection could not be made, or broke before the response was complete.
///
/// ```no_run
/// # async fn run(client: errata_client::Client) {
/// if let Err(errata_client::Error::Network(e)) = client.get("/v1/ping").send::<()>().await {
///     eprintln!("{e}; connect failure: {}", e.is_connect());
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct NetworkError {
    pub(crate) source: reqwest::Error,
    pub(crate) attempts: u32,
}

impl NetworkError {
    /// Whether the connection could not be made at all (refused, unreachable, DNS): the request
    /// surely did not reach the server.
    ///
    /// ```no_run
    /// # fn f(e: errata_client::NetworkError) {
    /// let never_sent = e.is_connect();
    /// # }
    /// ```
    pub fn is_connect(&self) -> bool {
        self.source.is_connect()
    }

    /// How many attempts were made.
    ///
    /// ```no_run
    /// # fn f(e: errata_client::NetworkError) {
    /// assert!(e.attempts() >= 1);
    /// # }
    /// ```
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

impl fmt::Display for NetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "network failure after {}: ", attempts(self.attempts))?;
        write_chain(f, &self.source)
    }
}

impl std::error::Error for NetworkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// No complete response arrived within the attempt's timeout, or the deadline across attempts
/// passed during an attempt.
///
/// ```no_run
/// # async fn run(client: errata_client::Client) {
/// if let Err(errata_client::Error::Timeout(e)) = client.get("/v1/report").send::<()>().await {
///     eprintln!("no answer within {:?} (deadline: {})", e.timeout(), e.is_deadline());
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct TimeoutError {
    pub(crate) timeout: Duration,
    pub(crate) deadline: bool,
    pub(crate) attempts: u32,
}

impl TimeoutError {
    /// How long the last attempt waited.
    ///
    /// ```no_run
    /// # fn f(e: errata_client::TimeoutError) {
    /// println!("{:?}", e.timeout());
    /// # }
    /// ```
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether the overall deadline ([`crate::RetryPolicy::deadline`]) cut the attempt short,
    /// rather than the per-attempt timeout.
    ///
    /// ```no_run
    /// # fn f(e: errata_client::TimeoutError) {
    /// if e.is_deadline() { /* the whole budget is spent */ }
    /// # }
    /// ```
    pub fn is_deadline(&self) -> bool {
        self.deadline
    }

    /// How many attempts were made.
    ///
    /// ```no_run
    /// # fn f(e: errata_client::TimeoutError) {
    /// println!("{} attempts", e.attempts());
    /// # }
    /// ```
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = if self.deadline {
            "the deadline across attempts passed"
        } else {
            "no response"
        };
        write!(
            f,
            "request timed out: {why} within {:?} (after {})",
            self.timeout,
            attempts(self.attempts)
        )
    }
}

impl std::error::Error for TimeoutError {}

/// A success response whose body is not the type the caller asked for.
///
/// ```no_run
/// # async fn run(client: errata_client::Client) {
/// if let Err(errata_client::Error::Decode(e)) = client.get("/v1/me").send::<Vec<u8>>().await {
///     eprintln!("{e}; body was: {}", String::from_utf8_lossy(e.body()));
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct DecodeError {
    pub(crate) status: u16,
    pub(crate) request_id: Option<String>,
    pub(crate) body: Vec<u8>,
    pub(crate) source: serde_json::Error,
    pub(crate) attempts: u32,
}

impl DecodeError {
    /// The response's status.
    ///
    /// ```no_run
    /// # fn f(e: errata_client::DecodeError) {
    /// assert!(e.status() < 400);
    /// # }
    /// ```
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The response's request id, from the catalog's request-id header.
    ///
    /// ```no_run
    /// # fn f(e: errata_client::DecodeError) {
    /// println!("{:?}", e.request_id());
    /// # }
    /// ```
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The body as received.
    ///
    /// ```no_run
    /// # fn f(e: errata_client::DecodeError) {
    /// println!("{} bytes", e.body().len());
    /// # }
    /// ```
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the response (HTTP {}, {}) is not of the expected type: {}",
            self.status,
            self.request_id.as_deref().map_or_else(
                || "no request id".to_owned(),
                |id| format!("request_id {id}")
            ),
            self.source
        )
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A request that could not be built; nothing was sent.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let client = errata_client::Client::builder("http://127.0.0.1:9").build().unwrap();
/// let err = client.get("/v1/x").header("bad header", "v").send::<()>().await.unwrap_err();
/// assert!(matches!(err, errata_client::Error::Request(_)));
/// assert_eq!(err.attempts(), 0);
/// # });
/// ```
#[derive(Debug)]
pub struct RequestError {
    pub(crate) message: String,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid request: {}", self.message)
    }
}

impl std::error::Error for RequestError {}

/// A client that could not be built.
///
/// ```
/// let err = errata_client::Client::builder("not a url").build().unwrap_err();
/// assert!(matches!(err, errata_client::BuildError::BaseUrl { .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The base URL is not an absolute http(s) URL.
    #[error("invalid base URL {url:?}: {reason}")]
    BaseUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The catalog file could not be read or fails its check.
    #[error("the catalog does not load:\n{0}")]
    Catalog(Diagnostics),
    /// The API key, its header name or the user agent cannot be sent as a header.
    #[error("invalid header {name:?}: {reason}")]
    Header {
        /// The header's name.
        name: String,
        /// What is wrong (never the key itself).
        reason: String,
    },
    /// The HTTP client could not be initialized.
    #[error("the HTTP client could not be built: {0}")]
    Http(#[source] reqwest::Error),
    /// TLS could not be set up (the platform's certificate roots could not be read).
    #[error("TLS could not be set up: {0}")]
    Tls(String),
}

fn attempts(n: u32) -> String {
    if n == 1 {
        "1 attempt".to_owned()
    } else {
        format!("{n} attempts")
    }
}

/// Writes an error and its sources, `: `-separated (reqwest's own message alone is vague).
fn write_chain(f: &mut fmt::Formatter<'_>, err: &dyn std::error::Error) -> fmt::Result {
    write!(f, "{err}")?;
    let mut source = err.source();
    while let Some(s) = source {
        write!(f, ": {s}")?;
        source = s.source();
    }
    Ok(())
}
