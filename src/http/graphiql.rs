//! The GraphiQL explorer, served entirely from this binary: no CDN, so it works on closed
//! networks. The assets are embedded at build time (see `build.rs`).

use axum::{
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};

include!(concat!(env!("OUT_DIR"), "/graphiql_assets.rs"));

/// Everything comes from this server; only GraphiQL's inline styles need `'unsafe-inline'`.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'none'";

const INIT_JS: &str = include_str!("graphiql_init.js");

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>login-api · GraphiQL</title>
  <link rel="stylesheet" href="/graphiql/graphiql.min.css">
  <style>body { margin: 0; } #graphiql { height: 100vh; }</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="/graphiql/react.production.min.js"></script>
  <script src="/graphiql/react-dom.production.min.js"></script>
  <script src="/graphiql/graphiql.min.js"></script>
  <script src="/graphiql/init.js"></script>
</body>
</html>
"#;

const UNAVAILABLE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>login-api · GraphiQL unavailable</title></head>
<body><h1>GraphiQL is not built into this binary</h1>
<p>Node.js and npm were not available when it was compiled. Install them and rebuild
(<code>cargo build</code>), or send GraphQL requests to <code>POST /graphql</code> with any client.</p>
</body></html>
"#;

pub fn page() -> Response {
    let html = if ASSETS.is_empty() { UNAVAILABLE } else { PAGE };
    ([(header::CONTENT_SECURITY_POLICY, CSP)], Html(html)).into_response()
}

pub async fn asset(Path(name): Path<String>) -> Response {
    if name == "init.js" {
        return (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            )],
            INIT_JS,
        )
            .into_response();
    }
    match ASSETS.iter().find(|(asset, _, _)| *asset == name) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=86400"),
                ),
            ],
            *bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
