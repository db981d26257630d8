//! Settings of the sign-in methods beyond the password (phone codes, Google, Facebook) and of
//! the Hybris circuit breaker: defaults, refusals naming the variable, secrets never printed.

use std::time::Duration;

use super::tests::{PRODUCTION_WITH_STAND_INS, settings};

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

#[test]
fn audit_settings_have_their_defaults_and_bounds() {
    let s = settings(&[]).unwrap();
    assert!(s.audit.development_key);
    assert_eq!(s.audit.failures_per_ip_per_min, 20);
    assert_eq!(s.audit.retention, chrono::Duration::days(90));
    assert!(!s.audit.record_refresh);
    assert_eq!(s.audit.reauth_max_age, chrono::Duration::seconds(300));
    assert_eq!(s.audit.tombstone, chrono::Duration::days(30));
    let s = settings(&[
        (
            "AUDIT_HASH_KEY",
            "an-audit-key-of-thirty-two-characters-or-more",
        ),
        ("AUDIT_RECORD_REFRESH", "true"),
    ])
    .unwrap();
    assert!(!s.audit.development_key && s.audit.record_refresh);
    assert!(
        !format!("{:?}", s.audit).contains("thirty-two"),
        "the key never prints"
    );
    for (name, bad) in [
        ("AUDIT_HASH_KEY", "short"),
        ("AUDIT_FAILURES_PER_IP_PER_MIN", "0"),
        ("AUDIT_RETENTION_DAYS", "x"),
        ("REAUTH_MAX_AGE_SECS", "5"),
        ("DELETION_TOMBSTONE_DAYS", "-1"),
    ] {
        assert_eq!(
            settings(&[(name, bad)]).unwrap_err().variable,
            name,
            "{name}={bad}"
        );
    }
}
