//! Test harness: a real server on a fresh database per test, on SQLite and PostgreSQL.
//!
//! Every test is generated twice by [`backend_tests!`]: once on a temporary SQLite
//! file and once on a new PostgreSQL database created from `TEST_DATABASE_URL`. When
//! that variable is unset the PostgreSQL variant is skipped locally, and fails in CI
//! (`CI` set), so the PostgreSQL pass can never be lost silently.

#![allow(dead_code)]

pub mod receiver;
pub mod roster;
pub mod ws;

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use gateway::auth::permissions::OrgRole;
use gateway::config::{Config, Limits, LogFormat};
use gateway::db::{Id, Json, Timestamp};
use gateway::engine::EngineConfig;
use gateway::server::Running;
use gateway::state::AppState;
use serde_json::{Value, json};

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `mod <name> { sqlite, postgres }` tests running `$body` with a `TestApp`.
#[macro_export]
macro_rules! backend_tests {
    (engine = $engine:expr; $($name:ident => $body:ident;)+) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(app) = $crate::common::TestApp::spawn_with_engine($crate::common::Backend::Sqlite, $engine).await {
                        super::$body(&app).await;
                        app.finish().await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::common::TestApp::spawn_with_engine($crate::common::Backend::Postgres, $engine).await {
                        super::$body(&app).await;
                        app.finish().await;
                    }
                }
            }
        )+
    };
    (limits = $limits:expr; $($name:ident => $body:ident;)+) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(app) = $crate::common::TestApp::spawn_with($crate::common::Backend::Sqlite, $limits).await {
                        super::$body(&app).await;
                        app.finish().await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::common::TestApp::spawn_with($crate::common::Backend::Postgres, $limits).await {
                        super::$body(&app).await;
                        app.finish().await;
                    }
                }
            }
        )+
    };
    ($($name:ident => $body:ident;)+) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(app) = $crate::common::TestApp::spawn($crate::common::Backend::Sqlite).await {
                        super::$body(&app).await;
                        app.finish().await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::common::TestApp::spawn($crate::common::Backend::Postgres).await {
                        super::$body(&app).await;
                        app.finish().await;
                    }
                }
            }
        )+
    };
}

/// A fresh database of `backend`, dropped (PostgreSQL) or deleted (SQLite) afterwards.
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    admin_url: Option<String>,
    name: Option<String>,
    _dir: tempfile::TempDir,
}

impl TestDatabase {
    /// `None` when PostgreSQL is not configured outside CI.
    pub async fn create(backend: Backend) -> Option<TestDatabase> {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let url = dir.path().join("test.db").to_string_lossy().into_owned();
                Some(TestDatabase {
                    url,
                    backend,
                    admin_url: None,
                    name: None,
                    _dir: dir,
                })
            }
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
                    if std::env::var_os("CI").is_some() {
                        panic!(
                            "TEST_DATABASE_URL must be set in CI: the PostgreSQL pass cannot be skipped"
                        );
                    }
                    eprintln!("skipping the PostgreSQL variant: TEST_DATABASE_URL is not set");
                    return None;
                };
                let name = format!("gw_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = AsyncPgConnection::establish(&admin_url)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                let url = match admin_url.rsplit_once('/') {
                    Some((base, _)) => format!("{base}/{name}"),
                    None => panic!("TEST_DATABASE_URL must name a database"),
                };
                Some(TestDatabase {
                    url,
                    backend,
                    admin_url: Some(admin_url),
                    name: Some(name),
                    _dir: dir,
                })
            }
        }
    }
}

impl TestDatabase {
    /// A database at `url` that the test manages itself (a private cluster): nothing is
    /// created here and nothing is dropped afterwards.
    pub fn external(url: String, backend: Backend) -> TestDatabase {
        TestDatabase {
            url,
            backend,
            admin_url: None,
            name: None,
            _dir: tempfile::tempdir().expect("temp dir"),
        }
    }
}

/// Dropped with the test, passed or panicked, so no database outlives its test.
impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (Some(admin_url), Some(name)) = (self.admin_url.take(), self.name.take()) else {
            return;
        };
        // A runtime of its own: this may run while the test's runtime is unwinding.
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut conn) = AsyncPgConnection::establish(&admin_url).await {
                    let _ = conn
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        });
        let _ = dropper.join();
    }
}

impl TestDatabase {
    /// A gateway configuration on this database.
    pub fn config(&self, limits: Limits, engine: EngineConfig) -> Config {
        self.config_with(limits, engine, gateway::webhooks::WebhookConfig::default())
    }

    /// A gateway configuration on this database, with `webhooks` for delivery.
    pub fn config_with(
        &self,
        limits: Limits,
        engine: EngineConfig,
        webhooks: gateway::webhooks::WebhookConfig,
    ) -> Config {
        Config {
            database_url: Some(self.url.clone()),
            data_dir: self._dir.path().to_path_buf(),
            bind: "127.0.0.1:0".parse().expect("address"),
            log_format: LogFormat::Pretty,
            jwt_secret: Some(JWT_SECRET.into()),
            // Generated and kept in the data directory, as on a first start.
            settings_encryption_key: None,
            token_ttl_seconds: 3600,
            db_pool_size: Some(4),
            db_statement_timeout_seconds: 15,
            limits,
            observability: Default::default(),
            engine,
            webhooks,
        }
    }
}

/// Run workers for tests: the simulated backend with a short step delay, so runs
/// finish quickly but their progress is still observable.
pub fn test_engine() -> EngineConfig {
    EngineConfig {
        run_workers: 2,
        run_poll_ms: 200,
        simulated_step_delay_ms: 30,
        ..EngineConfig::default()
    }
}

/// A running gateway on its own database.
pub struct TestApp {
    pub db: TestDatabase,
    pub server: Option<Running>,
    pub state: AppState,
    pub base: String,
    pub client: reqwest::Client,
    pub config: Config,
    pub clock: gateway::clock::Clock,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, Limits::default()).await
    }

    pub async fn spawn_with(backend: Backend, limits: Limits) -> Option<TestApp> {
        Self::spawn_configured(backend, limits, test_engine()).await
    }

    /// A gateway whose run workers use `engine`.
    pub async fn spawn_with_engine(backend: Backend, engine: EngineConfig) -> Option<TestApp> {
        Self::spawn_configured(backend, Limits::default(), engine).await
    }

    /// A gateway with both `limits` and `engine`.
    pub async fn spawn_configured(
        backend: Backend,
        limits: Limits,
        engine: EngineConfig,
    ) -> Option<TestApp> {
        let db = TestDatabase::create(backend).await?;
        let config = db.config(limits, engine);
        Self::spawn_on(db, config, gateway::clock::Clock::system()).await
    }

    /// A gateway delivering webhooks as `webhooks` says.
    pub async fn spawn_with_webhooks(
        backend: Backend,
        webhooks: gateway::webhooks::WebhookConfig,
    ) -> Option<TestApp> {
        let db = TestDatabase::create(backend).await?;
        let config = db.config_with(Limits::default(), test_engine(), webhooks);
        Self::spawn_on(db, config, gateway::clock::Clock::system()).await
    }

    /// A gateway whose recurring work follows `clock`, with run workers as `engine` says.
    pub async fn spawn_with_clock(
        backend: Backend,
        engine: EngineConfig,
        clock: gateway::clock::Clock,
    ) -> Option<TestApp> {
        let db = TestDatabase::create(backend).await?;
        let config = db.config(Limits::default(), engine);
        Self::spawn_on(db, config, clock).await
    }

    pub async fn spawn_on(
        db: TestDatabase,
        config: Config,
        clock: gateway::clock::Clock,
    ) -> Option<TestApp> {
        let server = gateway::server::start_with_clock(&config, clock.clone())
            .await
            .expect("server starts");
        let base = format!("http://{}", server.addr);
        let state = server.state.clone();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Some(TestApp {
            db,
            server: Some(server),
            state,
            base,
            client,
            config,
            clock,
        })
    }

    /// Stops this gateway and starts a new one (a new process, as far as the database
    /// can tell) on the same database and configuration.
    pub async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("server stops cleanly");
        }
        let server = gateway::server::start_with_clock(&self.config, self.clock.clone())
            .await
            .expect("server restarts");
        self.base = format!("http://{}", server.addr);
        self.state = server.state.clone();
        self.server = Some(server);
    }

    pub async fn finish(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("server stops cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a GraphQL request and returns the JSON body (asserting HTTP 200).
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request is sent");
        assert_eq!(response.status(), 200, "GraphQL responses are HTTP 200");
        response.json().await.expect("JSON body")
    }

    /// POSTs `body` (a GraphQL request of any shape) and returns the JSON body
    /// (asserting HTTP 200).
    pub async fn post(&self, token: Option<&str>, body: Value) -> Value {
        let mut request = self.client.post(self.url("/graphql")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request is sent");
        assert_eq!(response.status(), 200, "GraphQL responses are HTTP 200");
        response.json().await.expect("JSON body")
    }

    /// Like [`gql`], asserting there are no errors, and returning `data`.
    pub async fn data(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let body = self.gql(token, query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    /// Creates team `name` with `agents` senior roles (`Agent 0`, `Agent 1`, ...) and
    /// returns its id.
    pub async fn team_of_agents(
        &self,
        token: &str,
        name: &str,
        monthly_budget: &str,
        agents: usize,
    ) -> String {
        let roles: Vec<Value> = (0..agents)
            .map(|i| json!({ "title": format!("Agent {i}"), "expertise": "SENIOR" }))
            .collect();
        let data = self
            .data(
                Some(token),
                "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }",
                json!({ "input": { "name": name, "monthlyBudget": monthly_budget, "roles": roles } }),
            )
            .await;
        data["createTeam"]["team"]["id"]
            .as_str()
            .expect("team id")
            .to_string()
    }

    /// On PostgreSQL, waits (at most 5 s) until the session cache is live and a repeated
    /// request reads no session, so that each request costs the same statements.
    pub async fn sessions_settled(&self, token: &str) {
        if self.db.backend != Backend::Postgres {
            return;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let before = self.state.statements.get();
            self.data(Some(token), "{ viewer { user { id } } }", json!({}))
                .await;
            if self.state.statements.get() == before || std::time::Instant::now() > deadline {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Signs up an organization `slug` and returns its admin's token.
    pub async fn sign_up(&self, slug: &str) -> String {
        let data = self
            .data(
                None,
                "mutation($input: SignUpInput!) { signUp(input: $input) { token } }",
                json!({ "input": {
                    "organizationName": format!("Org {slug}"),
                    "slug": slug,
                    "email": format!("admin@{slug}.example"),
                    "username": format!("{slug}-admin"),
                    "password": "correct horse battery",
                    "fullName": "Admin"
                }}),
            )
            .await;
        data["signUp"]["token"].as_str().expect("token").to_string()
    }

    /// The organization id of a token's user.
    pub async fn organization_id(&self, token: &str) -> Id {
        let data = self
            .data(Some(token), "{ viewer { organization { id } } }", json!({}))
            .await;
        data["viewer"]["organization"]["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid")
    }

    /// The id of a token's user.
    pub async fn user_id(&self, token: &str) -> String {
        let data = self
            .data(Some(token), "{ viewer { user { id } } }", json!({}))
            .await;
        data["viewer"]["user"]["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    /// Adds a user with `role` to the organization and returns a token for them.
    pub async fn add_user(&self, organization_id: Id, name: &str, role: OrgRole) -> String {
        let mut pooled = self.state.pool.get().await.expect("connection");
        let now = Timestamp::now();
        let user = gateway::users::queries::insert(
            &mut pooled.conn(),
            &gateway::users::NewUser {
                id: Id::new(),
                organization_id,
                email: format!("{name}@example.test"),
                username: name.to_string(),
                full_name: Some(name.to_string()),
                password_hash: None,
                org_role: role,
                permissions: Json(json!([])),
                preferences: Json(json!({})),
                is_active: true,
                created_at: now,
                updated_at: now,
            },
        )
        .await
        .expect("user inserted");
        self.state
            .keys
            .issue(user.id, organization_id)
            .expect("token")
    }
}

impl TestApp {
    /// The actions of the organization's audit rows about `resource_type`, sorted.
    pub async fn audit_actions(&self, token: &str, resource_type: &str) -> Vec<String> {
        let data = self
            .data(
                Some(token),
                "query($type: String!) { auditLogs(first: 100, filter: { resourceType: $type }) { \
                 nodes { action } } }",
                json!({ "type": resource_type }),
            )
            .await;
        let mut actions: Vec<String> = data["auditLogs"]["nodes"]
            .as_array()
            .expect("audit rows")
            .iter()
            .map(|n| n["action"].as_str().expect("action").to_string())
            .collect();
        actions.sort();
        actions
    }
}

/// The value of the sample `series` of a `/metrics` page (name and labels exactly as
/// rendered).
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().expect("a number"))
}

/// The app's `/metrics` page (no `METRICS_TOKEN` set).
pub async fn scrape(app: &TestApp) -> String {
    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.expect("text")
}

/// The `extensions.code` of the first error.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body:#}"))
}

/// The `extensions.field` of the first error.
pub fn error_field(body: &Value) -> &str {
    body["errors"][0]["extensions"]["field"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field in {body:#}"))
}

/// The positions of a run's STEP_COMPLETED events, sorted, once its event log (`events
/// { seq kind step { position } }`) is checked gapless from seq 1.
pub fn completed_positions(run: &Value) -> Vec<i64> {
    let events = run["events"].as_array().expect("events");
    let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert_eq!(
        seqs,
        (1..=events.len() as i64).collect::<Vec<_>>(),
        "gapless log: {run:#}"
    );
    let mut completed: Vec<i64> = events
        .iter()
        .filter(|e| e["kind"] == "STEP_COMPLETED")
        .filter_map(|e| e["step"]["position"].as_i64())
        .collect();
    completed.sort_unstable();
    completed
}
