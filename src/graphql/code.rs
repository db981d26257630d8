//! The error codes of the API contract (`errors[].extensions.code`) and the message each says
//! to a client, written once for the GraphQL errors and the HTTP endpoints alike.
//!
//! Names are fixed: apps switch on them. Add codes; never rename one.

/// A code a client can meet, with its client-facing message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The HTTP request is not a GraphQL request (media type, body): HTTP 400/415.
    BadRequest,
    /// A GraphQL document or an input value was refused; `extensions.field` names the field.
    BadUserInput,
    InvalidCredentials,
    UpstreamUnavailable,
    /// Hybris sent member data we cannot read (a malformed date); `extensions.requestId` finds
    /// the details in our log. Retrying does not help until the data is fixed.
    UpstreamDataInvalid,
    /// `extensions.reason`: `MISSING`, `NOT_STARTED` or `EXPIRED`.
    MembershipInactive,
    /// HTTP 401 with `WWW-Authenticate` when a presented token was refused.
    Unauthenticated,
    InvalidRefreshToken,
    RefreshTokenReused,
    SessionNotFound,
    /// `extensions.retryAfter` in seconds; HTTP 429 when nothing else ran.
    RateLimited,
    PartnerNotFound,
    /// A verified sign-in that is linked to no member.
    IdentityNotLinked,
    /// An identity already linked to another member.
    IdentityInUse,
    /// One answer for a wrong code and an unknown, expired or used challenge;
    /// `extensions.attemptsLeft` says how many tries the challenge has left.
    InvalidCode,
    /// The challenge's attempts are used up: ask for a new code.
    CodeAttemptsExceeded,
    /// Text messages cannot be sent now (the SMS budget is spent); `extensions.retryAfter`.
    SmsUnavailable,
    /// The sign-in method is off on this server.
    ProviderNotConfigured,
    /// Log in with the password first; `extensions.reason` says why
    /// (`MEMBERSHIP_SNAPSHOT_STALE`).
    ReauthenticationRequired,
    /// A Google or Facebook token failed a check (signature, issuer, audience, expiry, nonce,
    /// another app's, a replay); `extensions.provider`.
    InvalidSocialToken,
    /// A verified provider account linked to no member: `extensions.provider`, `linkToken`
    /// (single use) and `linkTokenExpiresIn` (seconds) for a password login that links it.
    SocialAccountNotLinked,
    /// The provider account is linked to another member.
    SocialAccountInUse,
    /// Google or Facebook cannot be reached; `extensions.retryAfter`.
    ProviderUnavailable,
    /// No such endpoint (HTTP 404).
    NotFound,
    /// The endpoint does not take this method (HTTP 405, with `Allow`).
    MethodNotAllowed,
    /// The request took longer than `REQUEST_TIMEOUT_SECS` (HTTP 408).
    RequestTimeout,
    /// The body is over the size limit (HTTP 413); nothing was read or done.
    PayloadTooLarge,
    /// A dependency (the database) is unreachable (HTTP 503, `/readyz`).
    ServiceUnavailable,
    /// `extensions.requestId` to quote; the cause is in the log under it.
    InternalServerError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Self::UpstreamDataInvalid => "UPSTREAM_DATA_INVALID",
            Self::MembershipInactive => "MEMBERSHIP_INACTIVE",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::InvalidRefreshToken => "INVALID_REFRESH_TOKEN",
            Self::RefreshTokenReused => "REFRESH_TOKEN_REUSED",
            Self::SessionNotFound => "SESSION_NOT_FOUND",
            Self::RateLimited => "RATE_LIMITED",
            Self::PartnerNotFound => "PARTNER_NOT_FOUND",
            Self::IdentityNotLinked => "IDENTITY_NOT_LINKED",
            Self::IdentityInUse => "IDENTITY_IN_USE",
            Self::InvalidCode => "INVALID_CODE",
            Self::CodeAttemptsExceeded => "CODE_ATTEMPTS_EXCEEDED",
            Self::SmsUnavailable => "SMS_UNAVAILABLE",
            Self::ProviderNotConfigured => "PROVIDER_NOT_CONFIGURED",
            Self::ReauthenticationRequired => "REAUTHENTICATION_REQUIRED",
            Self::InvalidSocialToken => "INVALID_SOCIAL_TOKEN",
            Self::SocialAccountNotLinked => "SOCIAL_ACCOUNT_NOT_LINKED",
            Self::SocialAccountInUse => "SOCIAL_ACCOUNT_IN_USE",
            Self::ProviderUnavailable => "PROVIDER_UNAVAILABLE",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }

    /// What the client reads; call sites with more precise words (which field, which header)
    /// give their own for `BadRequest`, `BadUserInput` and `Unauthenticated`.
    pub fn message(self) -> &'static str {
        match self {
            Self::BadRequest => "the request is not a GraphQL request",
            Self::BadUserInput => "the input is invalid",
            // Same words whether or not the email exists.
            Self::InvalidCredentials => "the email or password is incorrect",
            Self::UpstreamUnavailable => {
                "the membership service is unavailable, please try again shortly"
            }
            Self::UpstreamDataInvalid => {
                "the membership service sent member data that could not be read; please contact the club"
            }
            Self::MembershipInactive => "the club membership is not active",
            Self::Unauthenticated => "this field needs an access token (Authorization: Bearer …)",
            Self::InvalidRefreshToken => "the refresh token is invalid or has expired",
            Self::RefreshTokenReused => {
                "the refresh token was already used; the session has been ended"
            }
            Self::SessionNotFound => "no such session",
            Self::RateLimited => "too many attempts, please wait",
            Self::PartnerNotFound => "no such partner",
            Self::IdentityNotLinked => "this sign-in is not linked to a club member",
            Self::IdentityInUse => "this account is linked to another member",
            Self::InvalidCode => "the code is not valid",
            Self::CodeAttemptsExceeded => "too many wrong codes; please ask for a new code",
            Self::SmsUnavailable => {
                "text messages cannot be sent right now, please try again later"
            }
            Self::ProviderNotConfigured => "this sign-in method is not available",
            Self::ReauthenticationRequired => {
                "please log in with your email and password once to confirm your membership"
            }
            Self::InvalidSocialToken => "the sign-in token is not valid",
            Self::SocialAccountNotLinked => {
                "this account is not linked to a club member yet: log in with your club password once to link it"
            }
            Self::SocialAccountInUse => "this account is linked to another member",
            Self::ProviderUnavailable => {
                "the sign-in provider cannot be reached, please try again shortly"
            }
            Self::NotFound => "no such endpoint: GraphQL is at POST /graphql",
            Self::MethodNotAllowed => "this endpoint does not take that method",
            Self::RequestTimeout => "the request took too long and was stopped",
            Self::PayloadTooLarge => "the request body is too large",
            Self::ServiceUnavailable => "the service is not ready, please try again shortly",
            Self::InternalServerError => "internal error",
        }
    }
}
