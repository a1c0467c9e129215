//! [`Client`] and its builder: where the API is, how the key travels, which catalog reads its
//! errors, and the timeouts and retry policy every request starts from.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use errata_core::{Catalog, Diagnostics};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};

use crate::clock::{Clock, SystemClock};
use crate::error::BuildError;
use crate::jitter::{FullJitter, Jitter};
use crate::request::RequestBuilder;
use crate::retry::RetryPolicy;

static BUILTIN: LazyLock<Arc<Catalog>> = LazyLock::new(|| Arc::new(Catalog::builtin().clone()));

/// How the API key is sent. The catalog format does not say (it describes errors, not
/// authentication), so it is a client option.
///
/// ```
/// use errata_client::{Auth, Client};
/// // KlayrAI reads its key from `x-api-key`:
/// let client = Client::builder("http://127.0.0.1:8080")
///     .api_key("klyr_test_abc")
///     .auth(Auth::Header("x-api-key".into()))
///     .build()?;
/// # Ok::<(), errata_client::BuildError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <key>` (the default, and errata's gateway default).
    #[default]
    Bearer,
    /// `<name>: <key>`, for APIs that read the key from their own header.
    Header(String),
}

/// An API client. Cheap to clone (the connection pool and settings are shared); make one and
/// reuse it.
///
/// ```no_run
/// use errata_client::Client;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::builder("http://127.0.0.1:8080").api_key("sk_test_123").build()?;
/// let me: serde_json::Value = client.get("/v1/me").send().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub http: reqwest::Client,
    pub base: String,
    pub catalog: Arc<Catalog>,
    pub auth: Option<(HeaderName, HeaderValue)>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub clock: Arc<dyn Clock>,
    pub jitter: Arc<dyn Jitter>,
    pub idempotency_keys: bool,
}

impl Client {
    /// Starts a client for the API at `base_url` (paths are appended to it, so a base of
    /// `http://host/v1` and a path of `/campaigns` reach `http://host/v1/campaigns`).
    ///
    /// ```
    /// let client = errata_client::Client::builder("http://127.0.0.1:8080/v1").build()?;
    /// # Ok::<(), errata_client::BuildError>(())
    /// ```
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(base_url.into())
    }

    /// A request with any method.
    ///
    /// ```no_run
    /// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
    /// use errata_client::Method;
    /// let res = client.request(Method::OPTIONS, "/v1/campaigns").send_response().await?;
    /// # Ok(()) }
    /// ```
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, path)
    }

    /// A `GET` request.
    ///
    /// ```no_run
    /// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
    /// let campaigns: serde_json::Value = client.get("/v1/campaigns").query(&[("limit", "10")]).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// A `POST` request; it carries an `Idempotency-Key` so that it can be retried safely.
    ///
    /// ```no_run
    /// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
    /// let created: serde_json::Value = client
    ///     .post("/v1/reports")
    ///     .json(&serde_json::json!({"campaign_ids": ["camp_1"]}))
    ///     .send()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    /// A `PUT` request.
    ///
    /// ```no_run
    /// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
    /// client.put("/v1/agents/a1").json(&serde_json::json!({"name": "a"})).send::<()>().await?;
    /// # Ok(()) }
    /// ```
    pub fn put(&self, path: &str) -> RequestBuilder {
        self.request(Method::PUT, path)
    }

    /// A `PATCH` request; like `POST`, it carries an `Idempotency-Key`.
    ///
    /// ```no_run
    /// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
    /// client.patch("/v1/agents/a1").json(&serde_json::json!({"name": "b"})).send::<()>().await?;
    /// # Ok(()) }
    /// ```
    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    /// A `DELETE` request.
    ///
    /// ```no_run
    /// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
    /// client.delete("/v1/agents/a1").send::<()>().await?;
    /// # Ok(()) }
    /// ```
    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    /// A `HEAD` request.
    ///
    /// ```no_run
    /// # async fn run(client: errata_client::Client) -> Result<(), errata_client::Error> {
    /// let exists = client.head("/v1/agents/a1").send_response().await.is_ok();
    /// # Ok(()) }
    /// ```
    pub fn head(&self, path: &str) -> RequestBuilder {
        self.request(Method::HEAD, path)
    }

    /// The catalog this client reads errors with.
    ///
    /// ```
    /// let client = errata_client::Client::builder("http://127.0.0.1:8080").build()?;
    /// assert!(client.catalog().code("quota_exceeded").is_some_and(|c| !c.retryable));
    /// # Ok::<(), errata_client::BuildError>(())
    /// ```
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Client")
            .field("base", &i.base)
            .field("catalog", &i.catalog.name())
            .field("auth", &i.auth.as_ref().map(|(name, _)| name))
            .field("retry", &i.retry)
            .field("timeout", &i.timeout)
            .field("clock", &i.clock)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Client`]. Every setting has a default; only the base URL is required.
///
/// | setting | default |
/// |---|---|
/// | API key | none (no auth header) |
/// | [`Auth`] | `Authorization: Bearer <key>` |
/// | catalog | the built-in one ([`Catalog::builtin`]) |
/// | timeout per attempt | 30 s (connect: 10 s) |
/// | user agent | `errata-client/<version>` |
/// | [`RetryPolicy`] | 2 retries, 0.5 s doubling to 8 s, full jitter, `Retry-After` up to 60 s |
/// | idempotency keys | added to `POST` and `PATCH` |
///
/// ```
/// use std::time::Duration;
/// use errata_client::{Auth, Client};
///
/// let client = Client::builder("http://127.0.0.1:8080")
///     .api_key("sk_live_123")
///     .auth(Auth::Bearer)
///     .catalog_file("catalogs/kaplaix.toml")
///     .timeout(Duration::from_secs(10))
///     .user_agent("reports-sync/1.4");
/// // .build() reads and checks the catalog file.
/// ```
pub struct ClientBuilder {
    base: String,
    api_key: Option<String>,
    auth: Auth,
    catalog: Result<Arc<Catalog>, Diagnostics>,
    catalog_path: Option<PathBuf>,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Jitter>,
    idempotency_keys: bool,
}

impl ClientBuilder {
    fn new(base: String) -> Self {
        ClientBuilder {
            base,
            api_key: None,
            auth: Auth::default(),
            catalog: Ok(BUILTIN.clone()),
            catalog_path: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            user_agent: concat!("errata-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: RetryPolicy::default(),
            clock: Arc::new(SystemClock),
            jitter: Arc::new(FullJitter::new()),
            idempotency_keys: true,
        }
    }

    /// The API key, sent on every request as [`Auth`] says.
    ///
    /// ```
    /// let b = errata_client::Client::builder("http://127.0.0.1:8080").api_key("sk_test_123");
    /// ```
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Which header carries the API key. Default [`Auth::Bearer`].
    ///
    /// ```
    /// use errata_client::Auth;
    /// let b = errata_client::Client::builder("http://127.0.0.1:8080").auth(Auth::Header("x-api-key".into()));
    /// ```
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// The catalog the API's errors are read with. Default: the built-in catalog.
    ///
    /// ```
    /// let catalog = errata_core::Catalog::from_toml(errata_core::DEFAULT_CATALOG_TOML).unwrap();
    /// let b = errata_client::Client::builder("http://127.0.0.1:8080").catalog(catalog);
    /// ```
    pub fn catalog(mut self, catalog: Catalog) -> Self {
        self.catalog = Ok(Arc::new(catalog));
        self.catalog_path = None;
        self
    }

    /// Reads the catalog from a TOML file when the client is built; a file that does not load
    /// or fails its check makes [`build`](Self::build) fail with every problem listed.
    ///
    /// ```
    /// let err = errata_client::Client::builder("http://127.0.0.1:8080")
    ///     .catalog_file("/nonexistent/catalog.toml")
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, errata_client::BuildError::Catalog(_)));
    /// ```
    pub fn catalog_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.catalog_path = Some(path.into());
        self
    }

    /// The time one attempt may take, from sending the request to the end of the response
    /// body. Default 30 s.
    ///
    /// ```
    /// let b = errata_client::Client::builder("http://127.0.0.1:8080").timeout(std::time::Duration::from_secs(5));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The time a connection may take to open. Default 10 s.
    ///
    /// ```
    /// let b = errata_client::Client::builder("http://127.0.0.1:8080").connect_timeout(std::time::Duration::from_secs(2));
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The `User-Agent` header. Default `errata-client/<version>`.
    ///
    /// ```
    /// let b = errata_client::Client::builder("http://127.0.0.1:8080").user_agent("nightly-sync/2.0");
    /// ```
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The retry policy of every request (a request can lower its own retries).
    ///
    /// ```
    /// let b = errata_client::Client::builder("http://127.0.0.1:8080").retry(errata_client::RetryPolicy::never());
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Shorthand for changing only the number of retries of the policy.
    ///
    /// ```
    /// let b = errata_client::Client::builder("http://127.0.0.1:8080").max_retries(5);
    /// ```
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.retry = self.retry.max_retries(retries);
        self
    }

    /// The clock for deadlines, HTTP-dates and the waits between attempts. Default
    /// [`SystemClock`]; tests use [`crate::clock::ManualClock`].
    ///
    /// ```
    /// let clock = errata_client::clock::ManualClock::new();
    /// let b = errata_client::Client::builder("http://127.0.0.1:8080").clock(clock.clone());
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The jitter source for backoff. Default [`FullJitter`].
    ///
    /// ```
    /// use errata_client::jitter::FullJitter;
    /// let b = errata_client::Client::builder("http://127.0.0.1:8080").jitter(FullJitter::seeded(7));
    /// ```
    pub fn jitter(mut self, jitter: impl Jitter) -> Self {
        self.jitter = Arc::new(jitter);
        self
    }

    /// Whether `POST` and `PATCH` requests get an `Idempotency-Key` (a random UUID, the same on
    /// every attempt of one request) when the caller did not set one. Default `true`. Without a
    /// key those methods are never retried: the first attempt may have taken effect.
    ///
    /// ```
    /// // The API rejects unknown headers: send no keys, and never retry POST.
    /// let b = errata_client::Client::builder("http://127.0.0.1:8080").idempotency_keys(false);
    /// ```
    pub fn idempotency_keys(mut self, add: bool) -> Self {
        self.idempotency_keys = add;
        self
    }

    /// Builds the client: checks the base URL, the key's header and the catalog.
    ///
    /// ```
    /// let client = errata_client::Client::builder("http://127.0.0.1:8080").build()?;
    /// # Ok::<(), errata_client::BuildError>(())
    /// ```
    pub fn build(self) -> Result<Client, BuildError> {
        let base = self.base.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&base).map_err(|e| BuildError::BaseUrl {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(BuildError::BaseUrl {
                url: self.base,
                reason: "not an http(s) URL".into(),
            });
        }
        let catalog = match &self.catalog_path {
            Some(path) => Arc::new(Catalog::from_file(path).map_err(BuildError::Catalog)?),
            None => self.catalog.map_err(BuildError::Catalog)?,
        };
        let auth = match self.api_key {
            Some(key) => Some(auth_header(&self.auth, &key)?),
            None => None,
        };
        let http = reqwest::Client::builder()
            .user_agent(header_value("user-agent", &self.user_agent)?)
            .connect_timeout(self.connect_timeout);
        #[cfg(feature = "rustls")]
        let http = http.tls_backend_preconfigured(tls_config()?);
        let http = http.build().map_err(BuildError::Http)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                catalog,
                auth,
                retry: self.retry,
                timeout: self.timeout,
                clock: self.clock,
                jitter: self.jitter,
                idempotency_keys: self.idempotency_keys,
            }),
        })
    }
}

/// rustls on the `ring` provider, verifying servers against the platform's roots.
#[cfg(feature = "rustls")]
fn tls_config() -> Result<rustls::ClientConfig, BuildError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_platform_verifier())
        .map_err(|e| BuildError::Tls(e.to_string()))?
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, BuildError> {
    HeaderValue::from_str(value).map_err(|e| BuildError::Header {
        name: name.to_owned(),
        reason: e.to_string(),
    })
}

fn auth_header(auth: &Auth, key: &str) -> Result<(HeaderName, HeaderValue), BuildError> {
    let (name, value) = match auth {
        Auth::Bearer => (AUTHORIZATION, format!("Bearer {key}")),
        Auth::Header(name) => {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| BuildError::Header {
                name: name.clone(),
                reason: e.to_string(),
            })?;
            (name, key.to_owned())
        }
    };
    // The key itself never appears in an error message.
    let mut value = HeaderValue::from_str(&value).map_err(|_| BuildError::Header {
        name: name.to_string(),
        reason: "the API key holds characters a header cannot carry".into(),
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}
