//! A bounded fuzz run against the running server: hostile and malformed requests, generated
//! from a fixed seed (reproducible), must never produce a 5xx, a hang or a dead server.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{ANNA, PASSWORD, spawn_app};

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const NASTY_STRINGS: &[&str] = &[
    "",
    " ",
    "\u{0}",
    "\u{202e}gnp.exe",
    "' OR '1'='1",
    "\"; DROP TABLE users; --",
    "${jndi:ldap://x}",
    "<script>alert(1)</script>",
    "../../../../etc/passwd",
    "%00%ff%fe",
    "😀😀😀",
    "a@b",
    "anna.rider@example.org\r\nX-Injected: 1",
    "\u{fffd}\u{fffe}",
    "-1",
    "1e309",
];

fn nasty_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 6 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.next() as i64),
        2 => json!(f64::from_bits(rng.next()).is_finite()),
        3 => json!(rng.pick(NASTY_STRINGS)),
        4 => json!("x".repeat(rng.below(20_000))),
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| nasty_value(rng, depth + 1))
                .collect(),
        ),
        6 => {
            let mut nested = json!(1);
            for _ in 0..rng.below(300) {
                nested = json!([nested]);
            }
            nested
        }
        _ => {
            let keys = [
                "email",
                "password",
                "device",
                "deviceId",
                "deviceType",
                "__proto__",
                "input",
            ];
            Value::Object(
                (0..rng.below(4))
                    .map(|_| (rng.pick(&keys).to_string(), nasty_value(rng, depth + 1)))
                    .collect(),
            )
        }
    }
}

const QUERIES: &[&str] = &[
    "mutation($input: LoginInput!) { login(input: $input) { accessToken user { id } } }",
    "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }",
    "mutation($id: ID!) { revokeSession(id: $id) }",
    "mutation($s: LogoutScope) { logout(scope: $s) }",
    "{ me { id email membership { active } } sessions { id } }",
    "query { __typename }",
    "{ me { ...F } } fragment F on User { ...F }",
    "{ me { id } ",
    "subscription { me { id } }",
    "mutation { login(input: {email: 1, password: null}) { accessToken } }",
];

fn mutate_text(rng: &mut Rng, text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..rng.below(6) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(4) {
            0 => bytes[at] = rng.next() as u8,
            1 => {
                bytes.remove(at);
            }
            2 => bytes.insert(at, *rng.pick(b"{}[]\"\\:,$@!()\x00\xff")),
            _ => bytes.truncate(at),
        }
    }
    bytes
}

#[tokio::test]
async fn a_bounded_fuzz_run_gets_no_5xx_and_leaves_the_server_healthy() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, None).await;
    let token = login["accessToken"].as_str().unwrap().to_owned();
    let url = format!("{}/graphql", app.address);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let deadline = Instant::now() + Duration::from_secs(60);
    let content_types = [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/graphql",
        "",
    ];

    let mut sent = 0;
    while sent < 600 && Instant::now() < deadline {
        let query = *rng.pick(QUERIES);
        let variables = json!({
            "input": nasty_value(&mut rng, 0),
            "t": nasty_value(&mut rng, 0),
            "id": nasty_value(&mut rng, 0),
            "s": nasty_value(&mut rng, 0),
        });
        let body = json!({"query": query, "variables": variables, "operationName": nasty_value(&mut rng, 5)}).to_string();
        let body = if rng.below(3) == 0 {
            mutate_text(&mut rng, &body)
        } else {
            body.into_bytes()
        };
        let mut request = app
            .http
            .post(&url)
            .timeout(Duration::from_secs(10))
            .body(body.clone());
        let content_type = *rng.pick(&content_types);
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        match rng.below(4) {
            0 => request = request.bearer_auth(&token),
            1 => {
                let mangled = mutate_text(&mut rng, &format!("Bearer {token}"));
                if let Ok(value) = reqwest::header::HeaderValue::from_bytes(&mangled) {
                    request = request.header("authorization", value);
                }
            }
            _ => {}
        }
        let response = request
            .send()
            .await
            .expect("the server answers every request");
        let status = response.status();
        assert!(
            !status.is_server_error(),
            "{status} for {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
        sent += 1;
    }

    assert!(
        sent >= 100,
        "the fuzz run was too slow to be meaningful ({sent} requests)"
    );
    let health = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        app.login(ANNA, PASSWORD, None).await.code(),
        None,
        "the server still logs members in"
    );
}
