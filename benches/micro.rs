//! Micro-benchmarks: JWT sign and verify per algorithm, GraphQL parse + validate of the login
//! mutation, and the membership rule. `cargo bench --bench micro`; results in BENCHMARKS.md.

use std::hint::black_box;

use chrono::{Duration, NaiveDate, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::Algorithm;
use login_api::{
    auth::tokens::TokenKeys,
    config::JwtSettings,
    domain::{AuthMethod, Membership, Session, SessionId, UserId},
    graphql::{SchemaLimits, build_schema},
};

fn jwt(c: &mut Criterion) {
    let now = Utc::now();
    for algorithm in [
        Algorithm::ES256,
        Algorithm::EdDSA,
        Algorithm::RS256,
        Algorithm::HS256,
    ] {
        let keys = TokenKeys::from_settings(&JwtSettings {
            algorithm,
            private_key_file: None,
            secret: None,
            issuer: "login-api".into(),
            audience: "club-mobile-apps".into(),
        })
        .unwrap();
        let session = Session {
            id: SessionId::new(),
            user_id: UserId::new(),
            device: Default::default(),
            auth_method: AuthMethod::Password,
            created_at: now,
            last_accessed_at: now,
            last_active_at: None,
            expires_at: now + Duration::days(1),
            revoked_at: None,
            end_reason: None,
        };
        let token = keys
            .issue(
                &session,
                vec!["member".into()],
                now,
                now + Duration::minutes(15),
            )
            .unwrap();
        c.bench_function(&format!("jwt sign {algorithm:?}"), |b| {
            b.iter(|| {
                keys.issue(
                    black_box(&session),
                    vec!["member".into()],
                    now,
                    now + Duration::minutes(15),
                )
                .unwrap()
            })
        });
        // What signing cost before the key was kept parsed: jsonwebtoken's `encode`, which
        // parses the key on every call; same header shape and claims.
        let key = match algorithm {
            Algorithm::HS256 => jsonwebtoken::EncodingKey::from_secret(&[7; 32]),
            _ => {
                let pem = login_api::auth::tokens::generate_pem(algorithm).unwrap();
                match algorithm {
                    Algorithm::ES256 => jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()),
                    Algorithm::RS256 => jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()),
                    _ => jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes()),
                }
                .unwrap()
            }
        };
        let claims = keys.verify(&token, now).unwrap();
        let mut header = jsonwebtoken::Header::new(algorithm);
        header.kid = Some("k".repeat(43));
        c.bench_function(
            &format!("jwt sign {algorithm:?}, key parsed per call"),
            |b| b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &key).unwrap()),
        );
        c.bench_function(&format!("jwt verify {algorithm:?}"), |b| {
            b.iter(|| keys.verify(black_box(&token), now).unwrap())
        });
    }
}

fn graphql(c: &mut Criterion) {
    // No use cases behind it: `login` stops at its first line, so this is parse + validate +
    // dispatch of the real login mutation.
    let schema = build_schema(
        None,
        SchemaLimits {
            max_depth: 20,
            max_complexity: 300,
            introspection: true,
        },
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let query = "mutation Login($input: LoginInput!) { login(input: $input) { accessToken refreshToken \
                 expiresIn session { id expiresAt } user { id email firstName membership { number active } } } }";
    let variables = async_graphql::Variables::from_json(serde_json::json!({
        "input": {"email": "anna.rider@example.org", "password": "Ride-2026!",
                  "device": {"deviceId": "d1", "deviceType": "IOS"}}
    }));
    c.bench_function("graphql parse+validate login mutation", |b| {
        b.iter(|| {
            let request = async_graphql::Request::new(query).variables(variables.clone());
            let response = runtime.block_on(schema.execute(request));
            black_box(response.errors.len())
        })
    });
}

fn membership(c: &mut Criterion) {
    let m = Membership {
        number: "RCC-1".into(),
        start_date: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
        end_date: NaiveDate::from_ymd_opt(2099, 12, 31).unwrap(),
        chapter: None,
    };
    let tz: chrono_tz::Tz = "Europe/London".parse().unwrap();
    let now = Utc::now();
    c.bench_function("membership rule (today in timezone + check)", |b| {
        b.iter(|| {
            let today = login_api::domain::membership::today_in(tz, black_box(now));
            Membership::check(Some(black_box(&m)), today).is_ok()
        })
    });
}

criterion_group!(benches, jwt, graphql, membership);
criterion_main!(benches);
