//! Adapters: the ports implemented over real technologies.

pub mod algolia;
pub mod eventbridge;
pub mod hybris;
pub mod log_sink;
pub mod rate_counter;
pub mod sms;
pub mod social;

/// The process's one outbound HTTP client (Hybris, Algolia, the SMS gateways, Google and
/// Facebook): pooled connections, a 5 s connect timeout, our user agent; adapters set their own
/// per-request timeouts. Errors: the TLS backend fails to initialise.
///
/// Redirects are not followed. Each peer is configured by its final address, and a followed
/// 307 or 308 re-sends the request's body and the headers reqwest does not know to be secret
/// (the member's password and our client secret in a token request, `X-Algolia-API-Key`) to
/// wherever the redirect points. A redirect is answered as the status it is: Hybris reports it
/// as unexpected and names `HYBRIS_BASE_URL`; the other adapters treat it as any status they do
/// not expect (Algolia tries its next host, the JWKS fetch reports an outage).
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .user_agent(concat!("login-api/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}
