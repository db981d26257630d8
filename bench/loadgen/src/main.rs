//! Drives login-api with GraphQL requests and reports throughput and latency percentiles.
//!
//! Each connection is a task with its own HTTP/1.1 client (one kept-alive connection). With
//! `--rate`, requests are scheduled at fixed intervals and latency is measured from the
//! scheduled time, so a stalled server is not hidden (no coordinated omission). `reference`
//! serves the trivial axum handler the report compares against.

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve `GET /` → "ok" on the given address: the same-run reference point. With
    /// `--burn-us N` each request first spins the CPU for N µs: a server that does nothing but
    /// spend a given CPU time per request, whose tail at a given rate is the machine's floor for
    /// any server spending that much.
    Reference {
        addr: String,
        #[arg(long, default_value_t = 0)]
        burn_us: u64,
    },
    /// Across instances (comma-separated URLs): N concurrent refreshes of one token must agree
    /// on one successor, and failed logins of one account must stop at the account limit.
    Exact {
        #[arg(long)]
        urls: String,
        #[arg(long, default_value_t = 30)]
        concurrent: usize,
    },
    /// Run one scenario and print one JSON line of results.
    Run {
        #[arg(long)]
        url: String,
        #[arg(long, value_enum)]
        scenario: Scenario,
        #[arg(long, default_value_t = 32)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Requests per second over all connections; saturation when absent.
        #[arg(long)]
        rate: Option<f64>,
        /// Members `bench{N}@example.org` the simulator knows (see bench/users.py).
        #[arg(long, default_value_t = 1000)]
        returning_users: usize,
        /// First `new{N}` member this run may use; runs must not share them.
        #[arg(long, default_value_t = 0)]
        new_start: usize,
        /// How many `new{N}` members this run may use.
        #[arg(long, default_value_t = 100_000)]
        new_users: usize,
    },
}

#[derive(Clone, Copy, ValueEnum, Debug)]
enum Scenario {
    /// `GET /` on the reference server.
    Trivial,
    /// `login` of a member who logged in before.
    LoginReturning,
    /// `login` of a member never seen before, every request.
    LoginNew,
    /// `refreshSession`, each connection rotating its own chain.
    Refresh,
    /// `me` with a valid access token.
    Me,
    /// An app launch: one refresh, then three authenticated queries.
    Mix,
    /// The Hybris simulator alone: password grant, then the profile (as login-api calls it).
    Hybris,
}

const LOGIN: &str = "mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken } }";
const REFRESH: &str = "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }";
const ME: &str = "{ me { id email firstName membership { active } } }";
const PASSWORD: &str = "Bench-2026!";

struct Connection {
    http: reqwest::Client,
    url: String,
    access: String,
    refresh: String,
}

impl Connection {
    async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Result<Value, String> {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.url))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if !status.is_success() || body.get("errors").is_some() {
            return Err(format!("{status} {body}"));
        }
        Ok(body)
    }

    async fn login(&mut self, email: &str) -> Result<(), String> {
        let body = self
            .gql(LOGIN, json!({"i": {"email": email, "password": PASSWORD}}), None)
            .await?;
        self.access = body["data"]["login"]["accessToken"].as_str().unwrap_or_default().to_owned();
        self.refresh = body["data"]["login"]["refreshToken"].as_str().unwrap_or_default().to_owned();
        Ok(())
    }

    async fn rotate(&mut self) -> Result<(), String> {
        let body = self.gql(REFRESH, json!({"t": self.refresh}), None).await?;
        self.access = body["data"]["refreshSession"]["accessToken"].as_str().unwrap_or_default().to_owned();
        self.refresh = body["data"]["refreshSession"]["refreshToken"].as_str().unwrap_or_default().to_owned();
        Ok(())
    }

    /// One unit of work; returns how many HTTP requests it made.
    async fn step(&mut self, scenario: Scenario, index: usize, returning_users: usize) -> Result<u64, String> {
        match scenario {
            Scenario::Trivial => {
                let response = self.http.get(&self.url).send().await.map_err(|e| e.to_string())?;
                response.bytes().await.map_err(|e| e.to_string())?;
                Ok(1)
            }
            Scenario::LoginReturning => self.login(&format!("bench{}@example.org", index % returning_users)).await.map(|_| 1),
            Scenario::LoginNew => self.login(&format!("new{index}@example.org")).await.map(|_| 1),
            Scenario::Refresh => self.rotate().await.map(|_| 1),
            Scenario::Me => self.gql(ME, json!({}), Some(&self.access)).await.map(|_| 1),
            Scenario::Hybris => {
                let username = format!("bench{}@example.org", index % returning_users);
                let token: Value = self
                    .http
                    .post(format!("{}/authorizationserver/oauth/token", self.url))
                    .form(&[
                        ("grant_type", "password"),
                        ("username", username.as_str()),
                        ("password", PASSWORD),
                        ("client_id", "bench"),
                        ("client_secret", "bench-secret"),
                    ])
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                let access = token["access_token"].as_str().ok_or("no access token")?;
                let profile = self
                    .http
                    .get(format!("{}/occ/v2/rcc/users/current?fields=DEFAULT,rccMembershipNumber", self.url))
                    .bearer_auth(access)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !profile.status().is_success() {
                    return Err(format!("profile {}", profile.status()));
                }
                profile.bytes().await.map_err(|e| e.to_string())?;
                Ok(2)
            }
            Scenario::Mix => {
                self.rotate().await?;
                for _ in 0..3 {
                    self.gql(ME, json!({}), Some(&self.access)).await?;
                }
                Ok(4)
            }
        }
    }
}

#[tokio::main]
async fn main() {
    match Cli::parse().command {
        Command::Reference { addr, burn_us } => {
            let burn = Duration::from_micros(burn_us);
            let app = axum::Router::new().route(
                "/",
                axum::routing::get(move || async move {
                    let started = Instant::now();
                    while started.elapsed() < burn {
                        std::hint::spin_loop();
                    }
                    "ok"
                }),
            );
            let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
            axum::serve(listener, app).await.expect("serve");
        }
        Command::Exact { urls, concurrent } => exact(urls, concurrent).await,
        Command::Run {
            url,
            scenario,
            connections,
            seconds,
            rate,
            returning_users,
            new_start,
            new_users,
        } => {
            let plan = Plan { scenario, connections, seconds, rate, returning_users, new_start, new_users };
            run(url, plan).await
        }
    }
}

/// Wakes tasks at given instants to within tens of microseconds. Tokio's timer ticks in whole
/// milliseconds: at 25,000 requests/s that adds up to 1 ms to each scheduled request's
/// measured latency (latency counts from the scheduled instant), more than the server's own.
struct Pacer {
    register: std::sync::mpsc::Sender<(Instant, Waker)>,
}

type Waker = tokio::sync::oneshot::Sender<()>;

impl Pacer {
    fn start() -> Self {
        use std::cmp::Reverse;
        use std::sync::mpsc::RecvTimeoutError;
        let (register, registrations) = std::sync::mpsc::channel::<(Instant, Waker)>();
        std::thread::spawn(move || {
            // Ordered by instant, then by arrival; the wakers wait beside the heap.
            let mut due = std::collections::BinaryHeap::<Reverse<(Instant, u64)>>::new();
            let mut wakers = std::collections::HashMap::<u64, Waker>::new();
            let mut next = 0u64;
            loop {
                let now = Instant::now();
                while let Some(&Reverse((at, id))) = due.peek() {
                    if at > now {
                        break;
                    }
                    due.pop();
                    if let Some(waker) = wakers.remove(&id) {
                        let _ = waker.send(());
                    }
                }
                let first = match due.peek() {
                    Some(&Reverse((at, _))) => registrations.recv_timeout(at.saturating_duration_since(now)),
                    None => registrations.recv().map_err(|_| RecvTimeoutError::Disconnected),
                };
                let entries = match first {
                    Ok(entry) => std::iter::once(entry).chain(registrations.try_iter()).collect(),
                    Err(RecvTimeoutError::Disconnected) if due.is_empty() => return,
                    Err(_) => Vec::new(),
                };
                for (at, waker) in entries {
                    due.push(Reverse((at, next)));
                    wakers.insert(next, waker);
                    next += 1;
                }
            }
        });
        Self { register }
    }

    async fn sleep_until(&self, at: Instant) {
        if at <= Instant::now() {
            return;
        }
        let (waker, woken) = tokio::sync::oneshot::channel();
        if self.register.send((at, waker)).is_ok() {
            let _ = woken.await;
        }
    }
}

#[derive(Clone, Copy)]
struct Plan {
    scenario: Scenario,
    connections: usize,
    seconds: u64,
    rate: Option<f64>,
    returning_users: usize,
    new_start: usize,
    new_users: usize,
}

async fn run(url: String, plan: Plan) {
    let Plan { scenario, connections, seconds, rate, returning_users, new_start, new_users } = plan;
    let deadline_after = Duration::from_secs(seconds);
    // New members: each connection walks its own disjoint slice of `new{N}` members.
    let per_connection_new = new_users / connections.max(1);
    let mut tasks = Vec::new();
    let urls: Vec<String> = url.split(',').map(str::to_owned).collect();
    let pacer = std::sync::Arc::new(Pacer::start());
    for c in 0..connections {
        let pacer = pacer.clone();
        // Several comma-separated URLs: connections spread over them (several instances).
        let url = urls[c % urls.len()].clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client");
            let mut connection = Connection { http, url, access: String::new(), refresh: String::new() };
            if matches!(scenario, Scenario::Refresh | Scenario::Me | Scenario::Mix) {
                connection
                    .login(&format!("bench{}@example.org", c % returning_users))
                    .await
                    .expect("setup login");
            }
            let interval = rate.map(|r| Duration::from_secs_f64(connections as f64 / r));
            let started = Instant::now();
            let (mut latencies, mut requests, mut errors, mut i) = (Vec::new(), 0u64, 0u64, 0usize);
            let mut first_error = None;
            while started.elapsed() < deadline_after {
                let scheduled = match interval {
                    Some(interval) => {
                        let at = started + interval.mul_f64(i as f64) + interval.mul_f64(c as f64 / connections as f64);
                        pacer.sleep_until(at).await;
                        at
                    }
                    None => Instant::now(),
                };
                let index = match scenario {
                    Scenario::LoginNew if i >= per_connection_new => break,
                    Scenario::LoginNew => new_start + c * per_connection_new + i,
                    _ => c + i * connections,
                };
                match connection.step(scenario, index, returning_users).await {
                    Ok(n) => {
                        requests += n;
                        latencies.push(scheduled.elapsed().as_micros() as u64);
                    }
                    Err(error) => {
                        errors += 1;
                        first_error.get_or_insert(error);
                    }
                }
                i += 1;
            }
            (latencies, requests, errors, first_error)
        }));
    }
    let started = Instant::now();
    let (mut latencies, mut requests, mut errors, mut first_error) = (Vec::new(), 0, 0, None);
    for task in tasks {
        let (l, r, e, f) = task.await.expect("task");
        latencies.extend(l);
        requests += r;
        errors += e;
        first_error = first_error.or(f);
    }
    let elapsed = started.elapsed().as_secs_f64().max(deadline_after.as_secs_f64());
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1] as f64 / 1000.0
    };
    println!(
        "{}",
        json!({
            "scenario": format!("{scenario:?}"),
            "connections": connections,
            "rate": rate,
            "seconds": elapsed,
            "requests": requests,
            "units": latencies.len(),
            "errors": errors,
            "first_error": first_error,
            "rps": requests as f64 / elapsed,
            "p50_ms": percentile(50.0),
            "p99_ms": percentile(99.0),
            "p999_ms": percentile(99.9),
        })
    );
}

async fn exact(urls: String, concurrent: usize) {
    let urls: Vec<String> = urls.split(',').map(str::to_owned).collect();
    let connection = |i: usize| Connection {
        http: reqwest::Client::new(),
        url: urls[i % urls.len()].clone(),
        access: String::new(),
        refresh: String::new(),
    };
    // One token, refreshed at once through every instance.
    let mut first = connection(0);
    first.login("bench999@example.org").await.expect("login");
    let token = first.refresh.clone();
    let refreshes = (0..concurrent).map(|i| {
        let mut c = connection(i);
        c.refresh = token.clone();
        async move { c.rotate().await.map(|_| c.refresh) }
    });
    let results: Vec<Result<String, String>> = futures_join(refreshes).await;
    let successors: std::collections::HashSet<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let refresh_errors = results.iter().filter(|r| r.is_err()).count();
    // Wrong passwords for one account, spread over the instances, at once.
    let guesses = (0..concurrent).map(|i| {
        let c = connection(i);
        async move {
            c.gql(LOGIN, json!({"i": {"email": "bench998@example.org", "password": "wrong"}}), None)
                .await
                .err()
                .unwrap_or_default()
        }
    });
    let answers: Vec<String> = futures_join(guesses).await;
    let invalid = answers.iter().filter(|a| a.contains("INVALID_CREDENTIALS")).count();
    let limited = answers.iter().filter(|a| a.contains("RATE_LIMITED")).count();
    println!(
        "{}",
        json!({
            "name": "exactness across instances",
            "instances": urls.len(),
            "concurrent_refreshes": concurrent,
            "distinct_successors": successors.len(),
            "refresh_errors": refresh_errors,
            "concurrent_wrong_passwords": concurrent,
            "reached_hybris_invalid_credentials": invalid,
            "rate_limited": limited,
        })
    );
}

/// Runs the futures concurrently on this task and collects their outputs in order.
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.expect("task"));
    }
    outputs
}
