//! Settings from variables: defaults, refusals naming the variable, secrets never printed.
use std::collections::HashMap;

use std::time::Duration;

use jsonwebtoken::Algorithm;

use super::*;

fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
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
const PRODUCTION_WITH_STAND_INS: [(&str, &str); 5] = [
    ("APP_ENV", "production"),
    ("ALLOW_HYBRIS_SIMULATOR", "true"),
    ("ALLOW_EPHEMERAL_JWT_KEY", "true"),
    ("ALLOW_LOG_SEARCH_INDEX", "true"),
    ("ALLOW_LOG_EVENTS", "true"),
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

#[test]
fn phone_sign_in_is_on_with_the_log_sender_outside_production_and_off_in_it_by_default() {
    let s = settings(&[]).unwrap();
    let phone = s.phone.expect("on in development");
    assert!(matches!(phone.sms, crate::adapters::sms::SmsSettings::Log));
    assert_eq!(phone.settings.code_length, 6);
    assert_eq!(phone.settings.ttl.num_seconds(), 300);
    assert_eq!(phone.settings.max_attempts, 5);
    assert_eq!(phone.settings.limits.global_per_hour, 500);
    assert!(
        settings(&PRODUCTION_WITH_STAND_INS)
            .unwrap()
            .phone
            .is_none()
    );
}

#[test]
fn production_refuses_the_log_sender_and_needs_the_code_key() {
    let mut vars = PRODUCTION_WITH_STAND_INS.to_vec();
    vars.push(("SMS_PROVIDER", "log"));
    assert_eq!(settings(&vars).unwrap_err().variable, "SMS_PROVIDER");
    let mut vars = PRODUCTION_WITH_STAND_INS.to_vec();
    vars.extend([
        ("SMS_PROVIDER", "webhook"),
        ("SMS_WEBHOOK_URL", "https://sms.example.org/send"),
        ("SMS_WEBHOOK_SECRET", "a-long-enough-webhook-secret"),
    ]);
    assert_eq!(settings(&vars).unwrap_err().variable, "OTP_HMAC_KEY");
    let key = "k".repeat(32);
    vars.push(("OTP_HMAC_KEY", &key));
    assert_eq!(settings(&vars).unwrap_err().variable, "REDIS_URL");
    vars.push(("REDIS_URL", "redis://127.0.0.1:6379"));
    let s = settings(&vars).unwrap();
    assert!(matches!(
        s.phone.unwrap().sms,
        crate::adapters::sms::SmsSettings::Webhook { .. }
    ));
}

#[test]
fn bad_phone_settings_name_their_variable_and_never_echo_a_secret() {
    for (vars, variable) in [
        (vec![("SMS_PROVIDER", "carrier-pigeon")], "SMS_PROVIDER"),
        (vec![("SMS_PROVIDER", "webhook")], "SMS_WEBHOOK_SECRET"),
        (
            vec![
                ("SMS_PROVIDER", "webhook"),
                ("SMS_WEBHOOK_SECRET", "short-secret"),
            ],
            "SMS_WEBHOOK_SECRET",
        ),
        (vec![("SMS_PROVIDER", "twilio")], "TWILIO_ACCOUNT_SID"),
        (vec![("OTP_HMAC_KEY", "too-short-key")], "OTP_HMAC_KEY"),
        (vec![("OTP_LENGTH", "3")], "OTP_LENGTH"),
        (
            vec![("OTP_ALLOWED_REGIONS", "GB,Narnia")],
            "OTP_ALLOWED_REGIONS",
        ),
        (vec![("OTP_DEFAULT_REGION", "UK")], "OTP_DEFAULT_REGION"),
        (vec![("SMS_TEMPLATE", "no code here")], "SMS_TEMPLATE"),
        (
            vec![("HYBRIS_TRUSTED_CLIENT_ID", "trusted")],
            "HYBRIS_TRUSTED_CLIENT_SECRET",
        ),
        (
            vec![("MEMBERSHIP_SNAPSHOT_MAX_AGE_SECS", "5")],
            "MEMBERSHIP_SNAPSHOT_MAX_AGE_SECS",
        ),
        (
            vec![
                ("MEMBERSHIP_SNAPSHOT_MAX_AGE_SECS", "3600"),
                ("MEMBERSHIP_REFRESH_AFTER_SECS", "86400"),
            ],
            "MEMBERSHIP_SNAPSHOT_MAX_AGE_SECS",
        ),
    ] {
        let err = settings(&vars).unwrap_err();
        assert_eq!(err.variable, variable, "{vars:?}");
        assert!(!err.to_string().contains("short-secret"));
        assert!(!err.to_string().contains("too-short-key"));
    }
}

#[test]
fn social_providers_are_off_without_settings_and_bad_values_name_their_variable() {
    let s = settings(&[]).unwrap();
    assert!(s.social.google.is_none() && s.social.facebook.is_none());
    assert_eq!(s.social.min_refetch, Duration::from_secs(60));
    assert!(s.social.settings.auto_link_google && !s.social.settings.require_nonce);
    let s = settings(&[
        (
            "GOOGLE_CLIENT_IDS",
            "web.apps.googleusercontent.com, ios.apps.googleusercontent.com",
        ),
        ("FACEBOOK_APP_ID", "123"),
        ("FACEBOOK_APP_SECRET", "facebook-secret-value"),
    ])
    .unwrap();
    assert_eq!(s.social.google.unwrap().client_ids.len(), 2);
    assert_eq!(s.social.facebook.unwrap().graph_version, "v21.0");
    let mut vars = PRODUCTION_WITH_STAND_INS.to_vec();
    vars.extend([
        ("GOOGLE_CLIENT_IDS", "web.apps.googleusercontent.com"),
        ("GOOGLE_JWKS_URL", "http://keys.example.org/certs"),
    ]);
    assert_eq!(settings(&vars).unwrap_err().variable, "GOOGLE_JWKS_URL");
    for (vars, variable) in [
        (vec![("FACEBOOK_APP_ID", "123")], "FACEBOOK_APP_SECRET"),
        (
            vec![("FACEBOOK_APP_SECRET", "facebook-secret-value")],
            "FACEBOOK_APP_ID",
        ),
        (
            vec![
                ("FACEBOOK_APP_ID", "1"),
                ("FACEBOOK_APP_SECRET", "facebook-secret-value"),
                ("FACEBOOK_GRAPH_VERSION", "latest"),
            ],
            "FACEBOOK_GRAPH_VERSION",
        ),
        (vec![("SOCIAL_AUTO_LINK", "always")], "SOCIAL_AUTO_LINK"),
        (
            vec![("GOOGLE_CLIENT_IDS", "x"), ("GOOGLE_JWKS_URL", "ftp://x")],
            "GOOGLE_JWKS_URL",
        ),
        (vec![("LOGIN_NONCE_TTL_SECS", "5")], "LOGIN_NONCE_TTL_SECS"),
        (
            vec![("JWKS_MIN_REFETCH_SECS", "0")],
            "JWKS_MIN_REFETCH_SECS",
        ),
    ] {
        let err = settings(&vars).unwrap_err();
        assert_eq!(err.variable, variable, "{vars:?}");
        assert!(!err.to_string().contains("facebook-secret-value"));
    }
}

#[test]
fn the_hybris_breaker_settings_have_defaults_and_name_their_variable() {
    let s = settings(&[]).unwrap();
    assert_eq!(s.hybris_breaker.consecutive, 5);
    assert_eq!(s.hybris_breaker.min_calls, 10);
    assert_eq!(s.hybris_breaker.open_for.num_seconds(), 30);
    assert_eq!(s.hybris_max_in_flight, 64);
    for (vars, variable) in [
        (
            vec![("HYBRIS_BREAKER_FAILURE_PERCENT", "0")],
            "HYBRIS_BREAKER_FAILURE_PERCENT",
        ),
        (
            vec![
                ("HYBRIS_BREAKER_OPEN_SECS", "600"),
                ("HYBRIS_BREAKER_MAX_OPEN_SECS", "300"),
            ],
            "HYBRIS_BREAKER_MAX_OPEN_SECS",
        ),
        (vec![("HYBRIS_MAX_IN_FLIGHT", "0")], "HYBRIS_MAX_IN_FLIGHT"),
    ] {
        assert_eq!(settings(&vars).unwrap_err().variable, variable);
    }
}
