//! The attempt loop: send, classify the outcome, ask [`crate::retry`] whether and when to try
//! again, and wait on the client's clock.

use std::time::Duration;

use rand::Rng;
use reqwest::header::HeaderMap;

use crate::api_error::ApiError;
use crate::client::Inner;
use crate::error::{Error, NetworkError, RequestError, TimeoutError};
use crate::response::Response;
use crate::retry::{self, Attempt, Decision, RetryPolicy};

/// The most of an error body that is read (a misbehaving proxy may stream anything).
const ERROR_BODY_LIMIT: usize = 1 << 20;

/// How one logical request is to be sent.
pub(crate) struct Plan {
    pub policy: RetryPolicy,
    pub timeout: Duration,
    /// Whether repeating the request is safe.
    pub repeatable: bool,
}

/// A random UUID v4, as an `Idempotency-Key`.
pub(crate) fn new_idempotency_key() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Sends `request` until it succeeds or the plan says to stop; returns the last outcome.
pub(crate) async fn execute(
    inner: &Inner,
    request: reqwest::Request,
    plan: Plan,
) -> Result<Response, Error> {
    let clock = &*inner.clock;
    let deadline = plan
        .policy
        .deadline
        .and_then(|budget| clock.now().checked_add(budget));
    let mut number = 0u32;
    loop {
        number = number.saturating_add(1);
        // Bodies are bytes (JSON), which always copy; a stream could not be sent twice.
        let Some(this) = request.try_clone() else {
            return Err(Error::Request(RequestError {
                message: "the request body cannot be copied for sending".into(),
            }));
        };
        let (limit, by_deadline) = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(clock.now());
                (left.min(plan.timeout), left < plan.timeout)
            }
            None => (plan.timeout, false),
        };
        let outcome = tokio::time::timeout(limit, attempt(inner, this)).await;
        let mut err = match outcome {
            Ok(Ok(answer)) if answer.status < 400 => {
                return Ok(Response {
                    request_id: request_id(inner, &answer.headers),
                    status: answer.status,
                    headers: answer.headers,
                    body: answer.body,
                    attempts: number,
                });
            }
            Ok(Ok(answer)) => Error::from(ApiError::read(
                &inner.catalog,
                answer.status,
                &answer.headers,
                &answer.body,
                clock.wall(),
            )),
            Ok(Err(e)) => classify(e, limit),
            Err(_elapsed) => Error::Timeout(TimeoutError {
                timeout: limit,
                deadline: by_deadline,
                attempts: 1,
            }),
        };
        err.set_attempts(number);
        if matches!(&err, Error::Timeout(t) if t.deadline) {
            return Err(err);
        }
        let decision = retry::decide(
            &err,
            &Attempt {
                policy: &plan.policy,
                jitter: &*inner.jitter,
                number,
                repeatable: plan.repeatable,
                now: clock.now(),
                deadline,
            },
        );
        match decision {
            Decision::Retry(delay) => {
                tracing::debug!(
                    attempt = number,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    request_id = err.request_id().unwrap_or("-"),
                    error = %err,
                    "retrying",
                );
                clock.sleep(delay).await;
            }
            Decision::Stop(why) => {
                tracing::debug!(attempt = number, reason = why, error = %err, "not retrying");
                return Err(err);
            }
        }
    }
}

/// What one attempt received: a whole response (an error body read up to a limit).
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

async fn attempt(inner: &Inner, request: reqwest::Request) -> Result<Answer, reqwest::Error> {
    let mut response = inner.http.execute(request).await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let limit = if status >= 400 {
        ERROR_BODY_LIMIT
    } else {
        usize::MAX
    };
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// A transport error as the caller should see it: a timeout, a request that could not be
/// built, or a network failure.
fn classify(e: reqwest::Error, limit: Duration) -> Error {
    if e.is_timeout() {
        Error::Timeout(TimeoutError {
            timeout: limit,
            deadline: false,
            attempts: 1,
        })
    } else if e.is_builder() {
        Error::Request(RequestError {
            message: e.to_string(),
        })
    } else {
        Error::Network(NetworkError {
            source: e,
            attempts: 1,
        })
    }
}

/// The request id of a success, from the catalog's request-id header.
fn request_id(inner: &Inner, headers: &HeaderMap) -> Option<String> {
    headers
        .get(inner.catalog.request_id().header.as_str())
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_uuid_v4() {
        let a = new_idempotency_key();
        let b = new_idempotency_key();
        assert_ne!(a, b);
        let groups: Vec<_> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
