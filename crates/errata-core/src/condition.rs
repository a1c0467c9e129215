//! The closed set of failures errata itself detects.
//!
//! A [`Condition`] is typed; the code it leaves as is data in the catalog. Every catalog maps every
//! condition to exactly one of its codes, and the lint checks that the code's status can carry it.

use std::fmt;
use std::str::FromStr;

/// A failure detected by errata itself (the gateway, the server library), as opposed to a code an
/// application raises by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Condition {
    /// No API key in any accepted header.
    MissingKey,
    /// Something that is not shaped like an API key.
    MalformedKey,
    /// A well-formed key that no store knows.
    UnknownKey,
    /// A key that was revoked.
    RevokedKey,
    /// A key past its expiry.
    ExpiredKey,
    /// The key lacks a scope the route requires.
    InsufficientScope,
    /// The client address is not on the key's allowlist.
    IpNotAllowed,
    /// The key's plan does not include the route.
    PlanInsufficient,
    /// A feature of the request needs a plan the key does not have.
    FeatureNotAvailable,
    /// A test key on a live-only route, or a live key on a test-only route.
    EnvironmentNotAllowed,
    /// Too many requests in the current window.
    RateLimited,
    /// The monthly quota is spent.
    QuotaExceeded,
    /// Too many requests in flight at once.
    ConcurrencyExceeded,
    /// The body exceeds the size limit.
    BodyTooLarge,
    /// The body's content type is not accepted.
    UnsupportedContentType,
    /// The body could not be parsed at all (syntax, encoding).
    MalformedBody,
    /// The body parsed but one or more fields failed validation.
    InvalidFields,
    /// A query or path parameter has an invalid value.
    InvalidParameter,
    /// No route matches the path.
    RouteNotFound,
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// A resource does not exist for this tenant (another tenant's resource included).
    ResourceNotFound,
    /// The request took longer than the server's own time limit.
    RequestTimeout,
    /// The upstream refused or reset the connection.
    UpstreamUnreachable,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The upstream answered with something that is not HTTP or not a usable response.
    UpstreamInvalidResponse,
    /// The server sheds load.
    Overloaded,
    /// A dependency (key store, counters) is unavailable and the policy is to fail closed.
    ServiceUnavailable,
    /// Anything unexpected: a panic, a bug.
    InternalError,
    /// The request is not valid HTTP (a control byte in a header, a bad `Content-Length`).
    MalformedRequest,
    /// The request target is longer than the server accepts.
    UriTooLong,
    /// The request's header section is larger than the server accepts.
    HeadersTooLarge,
    /// The client did not finish sending its request head in time.
    ClientTimeout,
    /// A request with the same idempotency key is still being processed.
    IdempotencyKeyInUse,
    /// The idempotency key was used before with a different request.
    IdempotencyKeyReused,
}

/// What a condition brings to a message template: argument names and an example value for each.
pub type ProvidedArg = (&'static str, &'static str);

impl Condition {
    /// Every condition, in declaration order.
    pub const ALL: &'static [Condition] = &[
        Condition::MissingKey,
        Condition::MalformedKey,
        Condition::UnknownKey,
        Condition::RevokedKey,
        Condition::ExpiredKey,
        Condition::InsufficientScope,
        Condition::IpNotAllowed,
        Condition::PlanInsufficient,
        Condition::FeatureNotAvailable,
        Condition::EnvironmentNotAllowed,
        Condition::RateLimited,
        Condition::QuotaExceeded,
        Condition::ConcurrencyExceeded,
        Condition::BodyTooLarge,
        Condition::UnsupportedContentType,
        Condition::MalformedBody,
        Condition::InvalidFields,
        Condition::InvalidParameter,
        Condition::RouteNotFound,
        Condition::MethodNotAllowed,
        Condition::ResourceNotFound,
        Condition::RequestTimeout,
        Condition::UpstreamUnreachable,
        Condition::UpstreamTimeout,
        Condition::UpstreamInvalidResponse,
        Condition::Overloaded,
        Condition::ServiceUnavailable,
        Condition::InternalError,
        Condition::MalformedRequest,
        Condition::UriTooLong,
        Condition::HeadersTooLarge,
        Condition::ClientTimeout,
        Condition::IdempotencyKeyInUse,
        Condition::IdempotencyKeyReused,
    ];

    /// The name used in catalog files (`missing_key`).
    pub fn name(self) -> &'static str {
        match self {
            Condition::MissingKey => "missing_key",
            Condition::MalformedKey => "malformed_key",
            Condition::UnknownKey => "unknown_key",
            Condition::RevokedKey => "revoked_key",
            Condition::ExpiredKey => "expired_key",
            Condition::InsufficientScope => "insufficient_scope",
            Condition::IpNotAllowed => "ip_not_allowed",
            Condition::PlanInsufficient => "plan_insufficient",
            Condition::FeatureNotAvailable => "feature_not_available",
            Condition::EnvironmentNotAllowed => "environment_not_allowed",
            Condition::RateLimited => "rate_limited",
            Condition::QuotaExceeded => "quota_exceeded",
            Condition::ConcurrencyExceeded => "concurrency_exceeded",
            Condition::BodyTooLarge => "body_too_large",
            Condition::UnsupportedContentType => "unsupported_content_type",
            Condition::MalformedBody => "malformed_body",
            Condition::InvalidFields => "invalid_fields",
            Condition::InvalidParameter => "invalid_parameter",
            Condition::RouteNotFound => "route_not_found",
            Condition::MethodNotAllowed => "method_not_allowed",
            Condition::ResourceNotFound => "resource_not_found",
            Condition::RequestTimeout => "request_timeout",
            Condition::UpstreamUnreachable => "upstream_unreachable",
            Condition::UpstreamTimeout => "upstream_timeout",
            Condition::UpstreamInvalidResponse => "upstream_invalid_response",
            Condition::Overloaded => "overloaded",
            Condition::ServiceUnavailable => "service_unavailable",
            Condition::InternalError => "internal_error",
            Condition::MalformedRequest => "malformed_request",
            Condition::UriTooLong => "uri_too_long",
            Condition::HeadersTooLarge => "headers_too_large",
            Condition::ClientTimeout => "client_timeout",
            Condition::IdempotencyKeyInUse => "idempotency_key_in_use",
            Condition::IdempotencyKeyReused => "idempotency_key_reused",
        }
    }

    /// The HTTP statuses a code answering this condition may have. The first is the usual one.
    pub fn statuses(self) -> &'static [u16] {
        use Condition::*;
        match self {
            MissingKey | MalformedKey | UnknownKey | ExpiredKey => &[401],
            RevokedKey => &[401, 403],
            InsufficientScope | IpNotAllowed | EnvironmentNotAllowed => &[403],
            PlanInsufficient | FeatureNotAvailable => &[403, 402],
            RateLimited | ConcurrencyExceeded => &[429],
            QuotaExceeded => &[429, 402, 403],
            BodyTooLarge => &[413, 400],
            UnsupportedContentType => &[415, 400],
            MalformedBody => &[400],
            InvalidFields | InvalidParameter => &[400, 422],
            RouteNotFound | ResourceNotFound => &[404],
            MethodNotAllowed => &[405, 404],
            RequestTimeout => &[408, 503, 504],
            UpstreamUnreachable => &[502, 503],
            UpstreamTimeout => &[504],
            UpstreamInvalidResponse => &[502],
            Overloaded => &[503, 429],
            ServiceUnavailable => &[503],
            InternalError => &[500],
            MalformedRequest => &[400],
            UriTooLong => &[414, 400],
            HeadersTooLarge => &[431, 400],
            ClientTimeout => &[408, 400],
            IdempotencyKeyInUse => &[409, 429],
            IdempotencyKeyReused => &[422, 400, 409],
        }
    }

    /// The message arguments this condition supplies, each with an example value used in docs.
    /// A message template answering the condition may use only these (and `param`).
    pub fn provided_args(self) -> &'static [ProvidedArg] {
        use Condition::*;
        match self {
            InsufficientScope => &[("scope", "reports:write")],
            IpNotAllowed => &[("ip", "203.0.113.7")],
            PlanInsufficient => &[("plan", "agency")],
            FeatureNotAvailable => &[("feature", "white_label"), ("plan", "agency")],
            EnvironmentNotAllowed => &[("environment", "test")],
            RateLimited => &[("retry_after", "12"), ("limit", "100")],
            QuotaExceeded => &[("retry_after", "86400"), ("limit", "10000")],
            ConcurrencyExceeded => &[("retry_after", "1"), ("limit", "5")],
            BodyTooLarge => &[("limit", "1048576")],
            UnsupportedContentType => &[("content_type", "text/plain")],
            MalformedBody => &[("reason", "expected value at line 1 column 10")],
            InvalidParameter => &[("reason", "invalid digit found in string")],
            RouteNotFound => &[("method", "GET"), ("path", "/v1/nothing")],
            MethodNotAllowed => &[
                ("method", "DELETE"),
                ("path", "/v1/events"),
                ("allowed", "GET, POST"),
            ],
            ResourceNotFound => &[("resource", "Campaign"), ("id", "camp_xyz999")],
            RequestTimeout | UpstreamTimeout => &[("timeout", "30")],
            Overloaded | ServiceUnavailable => &[("retry_after", "5")],
            MalformedRequest => &[("reason", "invalid header value")],
            ClientTimeout => &[("timeout", "30")],
            IdempotencyKeyInUse => &[("retry_after", "1")],
            _ => &[],
        }
    }

    /// A one-line explanation, used in lint messages and docs.
    pub fn summary(self) -> &'static str {
        use Condition::*;
        match self {
            MissingKey => "no API key was sent",
            MalformedKey => "the API key is not shaped like a key",
            UnknownKey => "the API key is not known",
            RevokedKey => "the API key was revoked",
            ExpiredKey => "the API key has expired",
            InsufficientScope => "the key lacks a required scope",
            IpNotAllowed => "the client address is not on the key's allowlist",
            PlanInsufficient => "the key's plan does not include this route",
            FeatureNotAvailable => "a requested feature needs another plan",
            EnvironmentNotAllowed => "the key's environment (live/test) is not allowed here",
            RateLimited => "too many requests in the current window",
            QuotaExceeded => "the monthly quota is spent",
            ConcurrencyExceeded => "too many requests in flight",
            BodyTooLarge => "the body exceeds the size limit",
            UnsupportedContentType => "the content type is not accepted",
            MalformedBody => "the body could not be parsed",
            InvalidFields => "fields of the body failed validation",
            InvalidParameter => "a query or path parameter is invalid",
            RouteNotFound => "no route matches the path",
            MethodNotAllowed => "the route does not accept this method",
            ResourceNotFound => "the resource does not exist for this tenant",
            RequestTimeout => "the request took too long",
            UpstreamUnreachable => "the upstream could not be reached",
            UpstreamTimeout => "the upstream did not answer in time",
            UpstreamInvalidResponse => "the upstream sent an invalid response",
            Overloaded => "the server is shedding load",
            ServiceUnavailable => "a dependency is unavailable",
            InternalError => "an unexpected internal error",
            MalformedRequest => "the request is not valid HTTP",
            UriTooLong => "the request target is too long",
            HeadersTooLarge => "the request's headers are too large",
            ClientTimeout => "the client did not send its request in time",
            IdempotencyKeyInUse => "a request with this idempotency key is still in flight",
            IdempotencyKeyReused => "the idempotency key was used with a different request",
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not one of [`Condition::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown condition `{0}`")]
pub struct UnknownCondition(pub String);

impl FromStr for Condition {
    type Err = UnknownCondition;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Condition::ALL
            .iter()
            .copied()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownCondition(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in Condition::ALL {
            assert!(seen.insert(c.name()), "duplicate name {}", c.name());
            assert_eq!(c.name().parse::<Condition>(), Ok(*c));
            assert!(!c.statuses().is_empty());
        }
        assert_eq!(
            "no_such".parse::<Condition>(),
            Err(UnknownCondition("no_such".into()))
        );
    }
}
