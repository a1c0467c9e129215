//! [`ErrataService`]: request id, limits, timeout and panic catching around a service, then
//! the catalog rendering of whatever error comes out.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::response::Response;
use errata_core::{ApiError, Condition};
use tower::load_shed::error::Overloaded;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use super::Config;
use super::normalize::{self, RequestInfo};
use crate::RequestId;
use crate::error::Pending;
use crate::tenant::TenantHeader;

/// The service an [`ErrataLayer`](super::ErrataLayer) wraps around each route.
#[derive(Clone)]
pub struct ErrataService {
    config: Arc<Config>,
    inner: BoxCloneSyncService<Request, Response, BoxError>,
}

impl ErrataService {
    pub(crate) fn new<S>(config: Arc<Config>, inner: S) -> Self
    where
        S: Service<Request, Response = Response> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        // Innermost first: the body cap for extractors, then panics become responses.
        let guarded = ServiceBuilder::new()
            .map_response(|res: Response<_>| res.map(Body::new))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(DefaultBodyLimit::max(config.body_limit))
            .service(inner)
            .map_err(Into::into);
        let inner = match &config.concurrency {
            Some(limit) => BoxCloneSyncService::new(
                ServiceBuilder::new()
                    .load_shed()
                    .layer(limit.clone())
                    .service(guarded),
            ),
            None => BoxCloneSyncService::new(guarded),
        };
        ErrataService { config, inner }
    }
}

impl Service<Request> for ErrataService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness (the concurrency limit) is decided per request, in the future.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let config = self.config.clone();
        let id = match req.extensions().get::<RequestId>() {
            Some(id) => id.clone(),
            None => {
                let id = RequestId::resolve(
                    req.headers(),
                    config.trusted_request_id.as_ref(),
                    config.catalog.request_id(),
                );
                req.extensions_mut().insert(id.clone());
                id
            }
        };
        req.extensions_mut()
            .insert(TenantHeader(config.tenant_header.clone()));
        let info = RequestInfo::of(&req);
        let span = tracing::info_span!(
            "request",
            request_id = %id,
            method = %info.method,
            path = %info.path,
        );
        let too_large = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|len| len > config.body_limit as u64);
        let inner = self.inner.clone();
        Box::pin(
            async move {
                let res = if too_large {
                    pending(ApiError::condition(Condition::BodyTooLarge))
                } else {
                    run(inner, req, &config).await
                };
                Ok(normalize::finish(res, &config, &info, &id))
            }
            .instrument(span),
        )
    }
}

/// Calls the guarded service within the timeout; its failures become pending errors.
async fn run(
    inner: BoxCloneSyncService<Request, Response, BoxError>,
    req: Request,
    config: &Config,
) -> Response {
    let outcome = match config.timeout {
        Some(limit) => match tokio::time::timeout(limit, inner.oneshot(req)).await {
            Ok(outcome) => outcome,
            Err(_elapsed) => {
                tracing::warn!(timeout = ?limit, "handler timed out");
                return pending(ApiError::condition(Condition::RequestTimeout));
            }
        },
        None => inner.oneshot(req).await,
    };
    match outcome {
        Ok(res) => res,
        Err(err) if err.is::<Overloaded>() => {
            tracing::warn!("overloaded: request shed");
            pending(
                ApiError::condition(Condition::Overloaded).retry_after(config.overload_retry_after),
            )
        }
        Err(err) => {
            tracing::error!(error = %err, "service failed");
            pending(ApiError::condition(Condition::InternalError))
        }
    }
}

/// A response that carries an error for [`normalize::finish`] to render.
pub(crate) fn pending(err: ApiError) -> Response {
    let mut res = Response::new(Body::empty());
    res.extensions_mut().insert(Pending(err));
    res
}

/// A panic in a handler: its message to the log, `internal_error` to the client.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(the panic payload is not text)");
    tracing::error!(panic = message, "handler panicked");
    pending(ApiError::condition(Condition::InternalError))
}
