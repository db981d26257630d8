//! The `Authorization` header, for every endpoint that reads one: `scheme credentials`, the
//! scheme matched case-insensitively (RFC 9110 §11.1: "It uses a case-insensitive token"), so
//! `Bearer`, `bearer` and `BEARER` are one scheme (RFC 6750 §2.1), as are `Basic` and `basic`
//! (RFC 7617 §2).

use axum::http::{HeaderMap, header};

/// Credentials longer than this are refused unread.
pub const MAX_CREDENTIALS_BYTES: usize = 8192;

/// `None` without an `Authorization` header; `Err(())` when it is present but is not `scheme`
/// followed by non-empty credentials of at most `MAX_CREDENTIALS_BYTES`.
pub fn credentials<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<Result<&'a str, ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    Some(
        value
            .to_str()
            .map_err(|_| ())
            .and_then(|v| parse(v, scheme)),
    )
}

fn parse<'a>(value: &'a str, scheme: &str) -> Result<&'a str, ()> {
    let (name, rest) = value.trim_start().split_once(' ').ok_or(())?;
    if !name.eq_ignore_ascii_case(scheme) {
        return Err(());
    }
    let credentials = rest.trim();
    if credentials.is_empty() || credentials.len() > MAX_CREDENTIALS_BYTES {
        return Err(());
    }
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_matches_in_any_casing() {
        for value in ["Bearer t0k", "bearer t0k", "BEARER t0k", "bEaReR   t0k "] {
            assert_eq!(parse(value, "Bearer"), Ok("t0k"), "{value:?}");
        }
        for value in ["Basic YTpi", "basic YTpi", "BASIC YTpi"] {
            assert_eq!(parse(value, "Basic"), Ok("YTpi"), "{value:?}");
        }
    }

    #[test]
    fn another_scheme_no_credentials_or_too_many_bytes_are_refused() {
        let long = format!("Bearer {}", "a".repeat(MAX_CREDENTIALS_BYTES + 1));
        for value in [
            "Basic YTpi",
            "Bearer",
            "Bearer ",
            "Bearertoken",
            "Token t0k",
            long.as_str(),
        ] {
            assert_eq!(parse(value, "Bearer"), Err(()), "{value:?}");
        }
    }
}
