//! Settings from variables: defaults, refusals naming the variable, secrets never printed.
use std::collections::HashMap;

use std::time::Duration;

use jsonwebtoken::Algorithm;

use super::*;

pub(super) fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::from_lookup(|name| vars.get(name).cloned())
}

#[test]
fn no_configuration_gives_the_embedded_defaults() {
    let s = settings(&[]).unwrap();
    assert_eq!(s.listen_addr.to_string(), "127.0.0.1:8080");
    assert!(s.hybris.is_none());
    assert_eq!(s.jwt.algorithm, Algorithm::ES256);
    assert_eq!(s.lifetimes.access_token.num_seconds(), 900);
    assert_eq!(s.lifetimes.refresh_token.num_seconds(), 2_592_000);
    assert_eq!(s.hybris_timeout, Duration::from_millis(5000));
    assert!(s.database_url().starts_with("sqlite:"));
}

#[test]
fn a_bad_value_names_its_variable() {
    for (vars, variable) in [
        (vec![("LISTEN_ADDR", "nowhere")], "LISTEN_ADDR"),
        (vec![("DATABASE_URL", "mysql://x")], "DATABASE_URL"),
        (
            vec![("MEMBERSHIP_TIMEZONE", "Mars/Olympus")],
            "MEMBERSHIP_TIMEZONE",
        ),
        (vec![("JWT_ALGORITHM", "none")], "JWT_ALGORITHM"),
        (
            vec![("ACCESS_TOKEN_TTL_SECS", "-5")],
            "ACCESS_TOKEN_TTL_SECS",
        ),
        (vec![("HYBRIS_TIMEOUT_MS", "soon")], "HYBRIS_TIMEOUT_MS"),
        (vec![("HYBRIS_BASE_URL", "http://h")], "HYBRIS_CLIENT_ID"),
        (vec![("HYBRIS_BASE_URL", "ftp://h")], "HYBRIS_BASE_URL"),
    ] {
        let err = settings(&vars).unwrap_err();
        assert_eq!(err.variable, variable);
        assert!(err.to_string().contains(variable));
    }
}

#[test]
fn production_turns_introspection_and_graphiql_off_unless_enabled() {
    let s = settings(&PRODUCTION_WITH_STAND_INS).unwrap();
    assert!(!s.http.introspection && !s.http.graphiql);
    let mut vars = PRODUCTION_WITH_STAND_INS.to_vec();
    vars.push(("GRAPHIQL", "true"));
    let s = settings(&vars).unwrap();
    assert!(s.http.graphiql && !s.http.introspection);
    let s = settings(&[]).unwrap();
    assert!(s.http.introspection && s.http.graphiql);
}

#[test]
fn trusted_proxies_are_addresses_or_ranges() {
    let s = settings(&[("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7,::1")]).unwrap();
    let proxies = &s.http.trusted_proxies;
    assert!(proxies[0].contains("10.200.3.4".parse().unwrap()));
    assert!(!proxies[0].contains("11.0.0.1".parse().unwrap()));
    assert!(proxies[1].contains("192.168.1.7".parse().unwrap()));
    assert!(!proxies[1].contains("192.168.1.8".parse().unwrap()));
    assert!(proxies[2].contains("::1".parse().unwrap()));
    for bad in ["10.0.0.0/33", "nope", "1.2.3.4/x"] {
        assert_eq!(
            settings(&[("TRUSTED_PROXIES", bad)]).unwrap_err().variable,
            "TRUSTED_PROXIES"
        );
    }
    assert_eq!(
        settings(&[("CORS_ALLOWED_ORIGINS", "https://app.example.org/path")])
            .unwrap_err()
            .variable,
        "CORS_ALLOWED_ORIGINS"
    );
}

#[test]
fn secrets_are_never_printed() {
    let err = settings(&[
        ("JWT_ALGORITHM", "ES256"),
        ("JWT_SECRET", "super-secret-value"),
    ])
    .unwrap_err();
    assert!(!err.to_string().contains("super-secret-value"));
    let s = settings(&[
        ("HYBRIS_BASE_URL", "https://hybris.example.org/"),
        ("HYBRIS_CLIENT_ID", "app"),
        ("HYBRIS_CLIENT_SECRET", "client-secret-value"),
        ("HYBRIS_BASE_SITE", "rcc"),
        ("JWT_ALGORITHM", "HS256"),
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef-secret"),
    ])
    .unwrap();
    let debug = format!("{s:?}");
    assert!(!debug.contains("client-secret-value"));
    assert!(!debug.contains("0123456789abcdef0123456789abcdef-secret"));
    assert_eq!(s.hybris.unwrap().base_url, "https://hybris.example.org");
}

/// Production with every stand-in explicitly allowed.
pub(super) const PRODUCTION_WITH_STAND_INS: [(&str, &str); 6] = [
    ("APP_ENV", "production"),
    ("ALLOW_HYBRIS_SIMULATOR", "true"),
    ("ALLOW_EPHEMERAL_JWT_KEY", "true"),
    ("ALLOW_LOG_SEARCH_INDEX", "true"),
    ("ALLOW_LOG_EVENTS", "true"),
    ("ALLOW_DEVELOPMENT_AUDIT_KEY", "true"),
];

#[test]
fn production_refuses_every_stand_in_in_one_message() {
    let err = settings(&[("APP_ENV", "production")]).unwrap_err();
    assert_eq!(err.variable, "APP_ENV");
    let message = err.to_string();
    for named in [
        "HYBRIS_BASE_URL",
        "ALLOW_HYBRIS_SIMULATOR",
        "JWT_PRIVATE_KEY_FILE",
        "ALLOW_EPHEMERAL_JWT_KEY",
        "ALGOLIA_APP_ID",
        "ALLOW_LOG_SEARCH_INDEX",
        "AWS_REGION",
        "ALLOW_LOG_EVENTS",
        "AUDIT_HASH_KEY",
        "ALLOW_DEVELOPMENT_AUDIT_KEY",
    ] {
        assert!(message.contains(named), "{named} missing from: {message}");
    }
    // Development keeps its zero-configuration start.
    assert!(settings(&[]).is_ok());
    assert!(settings(&[("APP_ENV", "development")]).is_ok());
}

#[test]
fn production_names_only_what_is_still_missing() {
    let err = settings(&[
        ("APP_ENV", "production"),
        ("HYBRIS_BASE_URL", "https://shop.example.org"),
        ("HYBRIS_CLIENT_ID", "app"),
        ("HYBRIS_CLIENT_SECRET", "s"),
        ("HYBRIS_BASE_SITE", "rcc"),
        ("JWT_ALGORITHM", "HS256"),
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef-secret"),
        ("AWS_REGION", "eu-west-1"),
    ])
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("ALGOLIA_APP_ID"), "{message}");
    assert!(message.contains("AUDIT_HASH_KEY"), "{message}");
    for configured in ["HYBRIS_BASE_URL", "JWT_PRIVATE_KEY_FILE", "AWS_REGION"] {
        assert!(!message.contains(configured), "{configured}: {message}");
    }
    assert!(
        !message.contains("0123456789abcdef"),
        "no secret in the message"
    );
    let mut vars = vec![("ALLOW_LOG_SEARCH_INDEX", "true")];
    vars.extend(PRODUCTION_WITH_STAND_INS.iter().take(1));
    vars.extend([
        ("HYBRIS_BASE_URL", "https://shop.example.org"),
        ("HYBRIS_CLIENT_ID", "app"),
        ("HYBRIS_CLIENT_SECRET", "s"),
        ("HYBRIS_BASE_SITE", "rcc"),
        ("JWT_ALGORITHM", "HS256"),
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef-secret"),
        ("AWS_REGION", "eu-west-1"),
        (
            "AUDIT_HASH_KEY",
            "an-audit-key-of-thirty-two-characters-or-more",
        ),
    ]);
    assert!(settings(&vars).is_ok(), "an explicit opt-out starts");
}

#[test]
fn the_account_limit_stays_below_the_hybris_lockout() {
    let s = settings(&[]).unwrap();
    assert_eq!(s.limits.account.max, 4, "HYBRIS_LOCKOUT_THRESHOLD 5 - 1");
    let s = settings(&[("HYBRIS_LOCKOUT_THRESHOLD", "8")]).unwrap();
    assert_eq!(s.limits.account.max, 7);
    for (threshold, account) in [("5", "5"), ("5", "9"), ("3", "3")] {
        let err = settings(&[
            ("HYBRIS_LOCKOUT_THRESHOLD", threshold),
            ("LOGIN_ACCOUNT_MAX_FAILURES", account),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "LOGIN_ACCOUNT_MAX_FAILURES");
        assert!(err.to_string().contains("HYBRIS_LOCKOUT_THRESHOLD"));
    }
    assert!(
        settings(&[
            ("HYBRIS_LOCKOUT_THRESHOLD", "10"),
            ("LOGIN_ACCOUNT_MAX_FAILURES", "9")
        ])
        .is_ok()
    );
}

#[test]
fn outside_production_any_lifetime_of_a_second_or_more_is_taken_and_named() {
    let s = settings(&[
        ("ACCESS_TOKEN_TTL_SECS", "5"),
        ("SESSION_IDLE_TIMEOUT_SECS", "20"),
        ("REFRESH_TOKEN_TTL_SECS", "3600"),
    ])
    .unwrap();
    assert_eq!(s.lifetimes.access_token.num_seconds(), 5);
    assert_eq!(
        s.short_lifetimes,
        ["ACCESS_TOKEN_TTL_SECS", "SESSION_IDLE_TIMEOUT_SECS"]
    );
    assert!(settings(&[]).unwrap().short_lifetimes.is_empty());
    assert_eq!(
        settings(&[("ACCESS_TOKEN_TTL_SECS", "0")])
            .unwrap_err()
            .variable,
        "ACCESS_TOKEN_TTL_SECS"
    );
    // Production keeps its minimums and refuses anything below.
    let mut vars = PRODUCTION_WITH_STAND_INS.to_vec();
    vars.push(("ACCESS_TOKEN_TTL_SECS", "5"));
    assert_eq!(
        settings(&vars).unwrap_err().variable,
        "ACCESS_TOKEN_TTL_SECS"
    );
    let mut vars = PRODUCTION_WITH_STAND_INS.to_vec();
    vars.push(("ACCESS_TOKEN_TTL_SECS", "30"));
    assert!(settings(&vars).unwrap().short_lifetimes.is_empty());
}

#[test]
fn the_roles_field_is_an_occ_field_name() {
    assert_eq!(
        settings(&[("HYBRIS_ROLES_FIELD", "rccRoles")])
            .unwrap()
            .hybris_roles_field
            .as_deref(),
        Some("rccRoles")
    );
    for bad in ["a,b", "x y", "roles&fields=FULL"] {
        assert_eq!(
            settings(&[("HYBRIS_ROLES_FIELD", bad)])
                .unwrap_err()
                .variable,
            "HYBRIS_ROLES_FIELD"
        );
    }
}
