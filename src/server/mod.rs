//! The HTTP server: GraphQL over HTTP (POST, and GET for queries), WebSocket
//! subscriptions, the GraphiQL playground, and health probes.

mod dashboard;
mod streams;
mod websocket;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use async_graphql::http::GraphiQLSource;
use async_graphql::{BatchRequest, BatchResponse, Executor};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::{TcpListener, TcpStream};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::api_usage::{ApiCall, CallStatus, Caller, OperationKind};
use crate::audit::RequestInfo;
use crate::auth::token::TokenKeys;
use crate::clock::Clock;
use crate::config::{Config, Limits, Observability};
use crate::db::migrations::{self, Direction};
use crate::db::{Backend, Pool, PoolOptions, StatementCounter};
use crate::engine::recurring::Recurring;
use crate::engine::{Engine, RunControl};
use crate::events::EventBus;
use crate::graphql::context::{Auth, RequestContext};
use crate::graphql::errors::REQUEST_ID;
use crate::graphql::executor::Gateway;
use crate::graphql::loaders::{BatchScope, Batching, loaders};
use crate::state::AppState;

const REQUEST_ID_HEADER: &str = "x-request-id";
const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

struct Server {
    gateway: Gateway,
    state: AppState,
    /// The bearer token `/metrics` wants, if any.
    metrics_token: Option<String>,
    limits: Limits,
    rates: crate::rate_limit::RateLimits,
    /// Permits for the GraphQL requests served at once.
    inflight: Arc<tokio::sync::Semaphore>,
}

type Shared = Arc<Server>;

/// A running server, for `serve` and for tests.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    engine: Engine,
    background: tokio::sync::watch::Sender<bool>,
    webhooks: Option<tokio::task::JoinHandle<()>>,
    recurring: Option<tokio::task::JoinHandle<()>>,
    /// The API usage writer, stopped after the last request has been served.
    usage: (
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ),
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish, stops the run
    /// workers (releasing their runs to other processes) and waits.
    pub async fn stop(self) -> anyhow::Result<()> {
        // Subscriptions end first, each with its transport's goodbye (WebSocket close
        // 1001); in-flight requests are not cut: the server stops accepting and waits.
        self.state.draining.begin();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while (self.state.live.websockets.get() > 0 || self.state.live.subscriptions.get() > 0)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let _ = self.shutdown.send(());
        self.engine.stop().await;
        let _ = self.background.send(true);
        if let Some(recurring) = self.recurring {
            let _ = recurring.await;
        }
        if let Some(webhooks) = self.webhooks {
            // Lets an attempt in flight finish and be stored.
            let _ = webhooks.await;
        }
        let served = self.task.await;
        let _ = self.usage.0.send(true);
        let _ = self.usage.1.await;
        served??;
        Ok(())
    }
}

/// Opens the database (migrating it) and builds the shared state.
pub async fn open(config: &Config, clock: Clock) -> anyhow::Result<AppState> {
    let url = config.database_url();
    let backend = Backend::of_url(&url);
    if backend == Backend::Sqlite
        && let Some(parent) = Path::new(&url)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let applied = migrations::run(&url, Direction::Up)
        .await
        .context("running migrations")?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied migrations");
    }
    let options = PoolOptions {
        max_size: config.db_pool_size.unwrap_or(match backend {
            Backend::Postgres => 10,
            Backend::Sqlite => 4,
        }),
        acquire_timeout: std::time::Duration::from_secs(10),
        statement_timeout: std::time::Duration::from_secs(config.db_statement_timeout_seconds),
    };
    let statements = StatementCounter::default();
    let pool = Pool::new(&url, &options, statements.clone())?;
    pool.ping().await.context("connecting to the database")?;
    let secret = token_secret(config)?;
    let metrics = crate::metrics::Metrics::default();
    metrics.watch_pool("requests", pool.clone());
    Ok(AppState {
        pool,
        keys: TokenKeys::new(&secret, config.token_ttl_seconds),
        bus: EventBus::new(4096),
        sessions: Default::default(),
        runs: RunControl::default(),
        logins: Default::default(),
        quota: Default::default(),
        clock,
        webhooks: crate::webhooks::dispatcher::Webhooks::new(config.webhooks.clone())?,
        api_usage: Default::default(),
        live: Default::default(),
        metrics,
        draining: Default::default(),
        settings: crate::settings::SettingsCipher::new(&settings_key(config)?),
        statements,
        agents: config.engine.backend()?,
    })
}

/// The configured secret, or the development secret kept in the data directory.
fn token_secret(config: &Config) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = config.data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path)
        && existing.trim().len() >= 32
    {
        return Ok(existing.trim().as_bytes().to_vec());
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let secret: String = {
        use rand::Rng;
        let mut rng = rand::rng();
        (0..48)
            .map(|_| char::from(rng.sample(rand::distr::Alphanumeric)))
            .collect()
    };
    write_private(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    tracing::warn!(path = %path.display(), "no JWT_SECRET set: generated a development secret");
    Ok(secret.into_bytes())
}

/// The configured settings key, or the development key kept in the data directory.
fn settings_key(config: &Config) -> anyhow::Result<[u8; 32]> {
    use crate::settings::SettingsCipher;
    if let Some(key) = &config.settings_encryption_key {
        return SettingsCipher::parse_key(key)
            .context("SETTINGS_ENCRYPTION_KEY must be 64 hex digits or base64 of 32 bytes");
    }
    let path = config.data_dir.join("settings-key");
    if let Ok(existing) = std::fs::read_to_string(&path)
        && let Some(key) = SettingsCipher::parse_key(&existing)
    {
        return Ok(key);
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let key: [u8; 32] = rand::random();
    write_private(&path, &hex::encode(key))
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::warn!(path = %path.display(), "no SETTINGS_ENCRYPTION_KEY set: generated a development key");
    Ok(key)
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

/// Drops a client-sent `x-request-id` unfit for logs and the audit trail, so one id
/// (a fresh one in its place) is logged, returned and recorded.
async fn normalize_request_id(mut request: Request, next: axum::middleware::Next) -> Response {
    let valid = request.headers().get(REQUEST_ID_HEADER).map(|value| {
        value.to_str().is_ok_and(|id| {
            !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_graphic())
        })
    });
    if valid == Some(false) {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    next.run(request).await
}

/// The router for `state`.
pub fn router(
    state: AppState,
    limits: Limits,
    observability: Observability,
) -> anyhow::Result<Router> {
    let gateway = Gateway::new(state.clone(), &limits, observability.slow_operation())?;
    let metrics = state.metrics.clone();
    let shared = Arc::new(Server {
        gateway,
        state,
        metrics_token: observability.metrics_token.filter(|t| !t.is_empty()),
        rates: crate::rate_limit::RateLimits::new(
            limits.rate_limit_ip_per_minute,
            limits.rate_limit_user_per_minute,
            limits.rate_limit_api_key_per_minute,
        ),
        inflight: Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent_requests)),
        limits,
    });
    Ok(Router::new()
        .route("/", get(playground))
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/dashboard", get(dashboard::page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_page))
        .with_state(shared)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            count_response,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let request_id = request
                        .headers()
                        .get(REQUEST_ID_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    let span = tracing::info_span!(
                        "http",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id = %request_id,
                        otel.name = %format_args!("{} {}", request.method(), request.uri().path()),
                        otel.kind = "server",
                    );
                    crate::telemetry::continue_trace(&span, request.headers());
                    span
                })
                // One line per request, at its end, within the request's span.
                .on_response(
                    tower_http::trace::DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Micros),
                ),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::from_fn(normalize_request_id)))
}

/// Accepted connections send each write at once. With Nagle's algorithm a small write
/// waits while an earlier one is unacknowledged, and a client that only listens
/// acknowledges late (Linux's delayed ACK, 40 ms): a subscription's second event in
/// quick succession arrived 40 ms after the first.
fn without_delay(listener: TcpListener) -> axum::serve::TapIo<TcpListener, fn(&mut TcpStream)> {
    use axum::serve::ListenerExt as _;
    listener.tap_io(send_at_once as fn(&mut TcpStream))
}

fn send_at_once(tcp: &mut TcpStream) {
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY on a connection");
    }
}

/// Binds and serves until `shutdown` fires.
pub async fn start(config: &Config) -> anyhow::Result<Running> {
    start_with_clock(config, Clock::system()).await
}

/// [`start`] with recurring work planned by `clock` (a manual one in tests).
pub async fn start_with_clock(config: &Config, clock: Clock) -> anyhow::Result<Running> {
    let state = open(config, clock).await?;
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let addr = listener.local_addr()?;
    let app = router(
        state.clone(),
        config.limits.clone(),
        config.observability.clone(),
    )?;
    let url = config.database_url();
    let (background, background_rx) = tokio::sync::watch::channel(false);
    if Backend::of_url(&url) == Backend::Postgres {
        tokio::spawn(state.bus.clone().listen(
            url.clone(),
            state.pool.clone(),
            state.sessions.clone(),
            background_rx,
        ));
    }
    // Background work (run workers, usage counts) gets its own connections so it and
    // requests never starve each other.
    let engine_pool = Pool::new(
        &url,
        &PoolOptions {
            max_size: config.engine.run_workers * 2
                + 2
                + config.webhooks.webhook_concurrency.min(4),
            acquire_timeout: std::time::Duration::from_secs(10),
            statement_timeout: std::time::Duration::from_secs(config.db_statement_timeout_seconds),
        },
        StatementCounter::default(),
    )?;
    state.metrics.watch_pool("background", engine_pool.clone());
    tokio::spawn(state.quota.clone().run(
        engine_pool.clone(),
        state.sessions.clone(),
        background.subscribe(),
    ));
    let (usage_stop, usage_stopped) = tokio::sync::watch::channel(false);
    let usage = (
        usage_stop,
        state.api_usage.spawn(engine_pool.clone(), usage_stopped),
    );
    let webhooks = state.webhooks.spawn(
        engine_pool.clone(),
        state.bus.clone(),
        background.subscribe(),
    );
    let recurring = (config.engine.run_schedule_poll_ms > 0).then(|| {
        Recurring {
            pool: engine_pool.clone(),
            bus: state.bus.clone(),
            control: state.runs.clone(),
            clock: state.clock.clone(),
            grace: chrono::Duration::seconds(config.engine.run_schedule_grace_seconds),
        }
        .spawn(
            std::time::Duration::from_millis(config.engine.run_schedule_poll_ms),
            background.subscribe(),
        )
    });
    let engine = Engine::start(
        &config.engine,
        engine_pool,
        state.bus.clone(),
        state.runs.clone(),
        state.settings.clone(),
    )?;
    let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(
            without_delay(listener),
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = signal.await;
        })
        .await
    });
    Ok(Running {
        addr,
        state,
        shutdown,
        task,
        engine,
        background,
        webhooks,
        recurring,
        usage,
    })
}

/// The `extensions.code` of an error response written before execution, for metrics.
#[derive(Clone, Copy)]
struct ErrorCode(&'static str);

/// Counts every response by status, and the code of every refusal written before
/// execution (operations' own errors are counted as they finish).
async fn count_response(
    State(metrics): State<crate::metrics::Metrics>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    metrics.response(response.status().as_u16());
    if let Some(ErrorCode(code)) = response.extensions().get::<ErrorCode>() {
        metrics.error(code);
    }
    response
}

/// The Prometheus text of this process's metrics.
async fn metrics_page(State(server): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(token) = &server.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::auth::bearer);
        let matches = given.is_some_and(|given| {
            use sha2::Digest;
            // Compared as digests, so the time taken says nothing of the token.
            sha2::Sha256::digest(given.as_bytes()) == sha2::Sha256::digest(token.as_bytes())
        });
        if !matches {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics need the METRICS_TOKEN bearer token",
            )
                .into_response();
        }
    }
    let text = server.state.metrics.render(&server.state).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(server): State<Shared>) -> Response {
    match server.state.pool.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

async fn playground() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql")
            .title("Gateway")
            .finish(),
    )
}

/// A GraphQL-shaped error response, for failures before execution.
/// Why an authenticated request is not executed.
enum Refusal {
    /// The organization's monthly API quota is used up.
    Quota(crate::error::AppError),
    /// The user or API key is over its rate; retry after the wait.
    RateLimited(&'static str, std::time::Duration),
}

/// 429 RATE_LIMITED with `Retry-After`.
fn rate_limited(what: &str, wait: std::time::Duration) -> Response {
    let seconds = crate::rate_limit::retry_after_seconds(wait);
    let mut response = request_error(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        &format!("too many requests from this {what}; retry after {seconds} s"),
    );
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn request_error(status: StatusCode, code: &'static str, message: &str) -> Response {
    let body =
        serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    let mut response = (status, Json(body)).into_response();
    response.extensions_mut().insert(ErrorCode(code));
    response
}

/// Who sent the request (address, user agent, request id), as `parts` tell.
fn request_info_of(parts: &axum::http::request::Parts) -> RequestInfo {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    request_info(&parts.headers, peer)
}

/// The refusal for a sending address over its rate, checked before authentication costs
/// a read.
fn address_refusal(
    server: &Server,
    info: &RequestInfo,
    now: std::time::Instant,
) -> Option<Response> {
    let ip = info.ip_address.as_ref()?;
    let wait = server.rates.ip.take(ip, now).err()?;
    Some(rate_limited("address", wait))
}

/// The answer to an `Upload` value that did not come from a multipart request.
fn forged_upload_refused() -> Response {
    request_error(
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
        "an `Upload` value must be a file of a multipart request",
    )
}

fn request_info(headers: &HeaderMap, peer: Option<SocketAddr>) -> RequestInfo {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    RequestInfo {
        // Set (or vetted) by the request-id layers; the fallback serves direct callers.
        request_id: header(REQUEST_ID_HEADER).unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        ip_address: peer.map(|p| p.ip().to_string()),
        user_agent: header(header::USER_AGENT.as_str()).map(|ua| ua.chars().take(512).collect()),
    }
}

/// Authenticates a credential (a bearer token) for one request or connection.
async fn authenticate(
    state: &AppState,
    credential: Option<&str>,
    request: RequestInfo,
    batching: Batching,
) -> RequestContext {
    let Some(token) = credential else {
        return RequestContext {
            auth: Auth::Anonymous,
            request,
        };
    };
    let result = crate::auth::authenticate(
        &state.pool,
        &state.keys,
        &state.sessions,
        token,
        request.clone(),
    )
    .await;
    let auth = match result {
        Ok((actor, identity)) => {
            let loaders = loaders(state.pool.clone(), actor.organization_id, batching);
            Auth::Authenticated {
                actor: Box::new(actor),
                loaders,
                identity,
            }
        }
        Err(e) if e.code() == "UNAUTHENTICATED" => Auth::Refused {
            reason: e.public_message(),
            known: state
                .keys
                .verify(token)
                .ok()
                .map(|claims| (claims.sub, claims.org)),
        },
        Err(e) if e.code() == "SERVICE_UNAVAILABLE" => {
            tracing::warn!(request_id = %request.request_id, error = %e, "authentication is unavailable");
            Auth::Unavailable
        }
        Err(e) => {
            tracing::error!(request_id = %request.request_id, error = %e, "authentication failed");
            Auth::Refused {
                reason: format!(
                    "authentication is unavailable (request id {})",
                    request.request_id
                ),
                known: None,
            }
        }
    };
    RequestContext { auth, request }
}

/// `Authorization: Bearer <token or key>`, or `X-Api-Key: <key>`.
fn bearer_from_headers(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::auth::bearer)
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|k| !k.is_empty())
        })
        .map(str::to_string)
}

fn wants_graphql_response_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains(GRAPHQL_RESPONSE_JSON))
}

async fn graphql_post(State(server): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/json" => {}
        "multipart/form-data" => {
            let content_type = content_type.to_string();
            return graphql_multipart(&server, parts, body, content_type).await;
        }
        _ => {
            return request_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "BAD_REQUEST",
                "send the GraphQL request as `Content-Type: application/json`, or as \
                 `multipart/form-data` (the GraphQL multipart request spec) to upload files",
            );
        }
    }
    let bytes: Bytes = match axum::body::to_bytes(body, server.limits.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return request_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BAD_REQUEST",
                &format!(
                    "the request body exceeds {} bytes",
                    server.limits.max_body_bytes
                ),
            );
        }
    };
    let batch: BatchRequest = match serde_json::from_slice(&bytes) {
        Ok(batch) => batch,
        Err(e) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("malformed JSON body: {e}"),
            );
        }
    };
    // An empty array would otherwise read as one request with no query.
    let is_array = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    if is_array && matches!(batch, BatchRequest::Single(_)) {
        return request_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "a batch must hold at least one operation",
        );
    }
    if let Some(framing) = streams::Framing::wanted(&parts.headers) {
        return match batch {
            BatchRequest::Single(request) => {
                streams::serve(&server, &parts, request, framing).await
            }
            BatchRequest::Batch(_) => request_error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "a streamed response carries one operation: send a batch as application/json",
            ),
        };
    }
    execute(&server, &parts, batch).await
}

/// Most files one multipart request may carry.
const MAX_UPLOAD_FILES: usize = 10;

/// Why a multipart body was cut off before async-graphql finished reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cutoff {
    TooManyParts,
    TooLarge,
}

/// Watches a multipart body as it streams: stops it past `max_bytes`, or past
/// `max_delimiters` boundary delimiters (async-graphql spools every file part to a
/// temporary file and does not count them).
struct PartGuard {
    delimiter: Vec<u8>,
    tail: Vec<u8>,
    delimiters: usize,
    max_delimiters: usize,
    bytes: usize,
    max_bytes: usize,
    cutoff: Arc<std::sync::OnceLock<Cutoff>>,
}

impl PartGuard {
    fn check(&mut self, chunk: &[u8]) -> Result<(), Cutoff> {
        self.bytes += chunk.len();
        if self.bytes > self.max_bytes {
            return Err(Cutoff::TooLarge);
        }
        // A delimiter may straddle chunks: search the previous chunk's end with this one.
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(chunk);
        let needle = &self.delimiter;
        self.delimiters += (0..window.len().saturating_sub(needle.len() - 1))
            .filter(|&i| window[i] == needle[0] && window[i..].starts_with(needle))
            .count();
        let keep = window.len().min(needle.len() - 1);
        self.tail = window.split_off(window.len() - keep);
        if self.delimiters > self.max_delimiters {
            return Err(Cutoff::TooManyParts);
        }
        Ok(())
    }
}

/// The `boundary` parameter of a multipart content type.
fn multipart_boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

/// A GraphQL multipart request (files in `Upload` variables), read by async-graphql
/// with each file limited to `DOCUMENT_MAX_BYTES`, then executed like a JSON one.
async fn graphql_multipart(
    server: &Server,
    parts: axum::http::request::Parts,
    body: Body,
    content_type: String,
) -> Response {
    use futures_util::{StreamExt, TryStreamExt};

    let file_max = server.limits.document_max_bytes;
    let too_large = || {
        let message = format!(
            "the upload is too large: a file may have at most {file_max} bytes \
             (DOCUMENT_MAX_BYTES), and a request at most {MAX_UPLOAD_FILES} files"
        );
        let body = serde_json::json!({ "errors": [{ "message": message,
            "extensions": { "code": "BAD_USER_INPUT", "field": "file" } }] });
        (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response()
    };
    let cutoff = Arc::new(std::sync::OnceLock::new());
    let mut stream = body
        .into_data_stream()
        .map_err(std::io::Error::other)
        .boxed();
    if let Some(boundary) = multipart_boundary(&content_type) {
        let mut guard = PartGuard {
            delimiter: format!("--{boundary}").into_bytes(),
            tail: Vec::new(),
            delimiters: 0,
            // operations, map and the files, and the closing delimiter.
            max_delimiters: MAX_UPLOAD_FILES + 3,
            bytes: 0,
            max_bytes: file_max
                .saturating_mul(MAX_UPLOAD_FILES)
                .saturating_add(server.limits.max_body_bytes),
            cutoff: Arc::clone(&cutoff),
        };
        stream = stream
            .map(move |chunk| {
                let chunk = chunk?;
                if let Err(cut) = guard.check(&chunk) {
                    let _ = guard.cutoff.set(cut);
                    return Err(std::io::Error::other("multipart request cut off"));
                }
                Ok(chunk)
            })
            .boxed();
    }
    let options = async_graphql::http::MultipartOptions::default()
        .max_file_size(file_max)
        .max_num_files(MAX_UPLOAD_FILES);
    let received = async_graphql::http::receive_batch_body(
        Some(content_type),
        stream.into_async_read(),
        options,
    )
    .await;
    match received {
        Ok(batch) => execute(server, &parts, batch).await,
        Err(_) if cutoff.get() == Some(&Cutoff::TooLarge) => too_large(),
        Err(_) if cutoff.get() == Some(&Cutoff::TooManyParts) => request_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            &format!("a request may carry at most {MAX_UPLOAD_FILES} files"),
        ),
        Err(async_graphql::ParseRequestError::PayloadTooLarge) => too_large(),
        Err(e) => request_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            &format!("malformed multipart request: {e}"),
        ),
    }
}

/// async-graphql marks a file in the variables as `#__graphql_file__:<n>`, the n-th
/// file of the request, and panics on a mark that names none. Such a mark can only
/// be forged by the client: refused before execution.
const UPLOAD_MARK: &str = "#__graphql_file__:";

fn forged_upload(request: &async_graphql::Request) -> bool {
    fn forged(value: &async_graphql::Value, files: usize) -> bool {
        match value {
            async_graphql::Value::String(s) => s
                .strip_prefix(UPLOAD_MARK)
                .is_some_and(|n| n.parse::<usize>().map_or(true, |n| n >= files)),
            async_graphql::Value::List(items) => items.iter().any(|v| forged(v, files)),
            async_graphql::Value::Object(map) => map.values().any(|v| forged(v, files)),
            _ => false,
        }
    }
    request.query.contains(UPLOAD_MARK)
        || request
            .variables
            .values()
            .any(|v| forged(v, request.uploads.len()))
}

async fn graphql_get(State(server): State<Shared>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let is_upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        return websocket::upgrade(server, &mut parts).await;
    }
    let query_string = parts.uri.query().unwrap_or("");
    if query_string.is_empty() {
        let accepts_html = parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
        if accepts_html {
            return playground().await.into_response();
        }
        return request_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "missing `query` parameter",
        );
    }
    let mut request = match get_request(&parts.uri) {
        Ok(request) => request,
        Err(message) => return request_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message),
    };
    // A persisted document is looked up first, so the method rule below applies to it.
    if request.query.trim().is_empty()
        && let Some(text) = server.gateway.persisted().known(&request)
    {
        request.query = text.to_string();
    }
    let framing = streams::Framing::wanted(&parts.headers);
    // GraphQL over HTTP: GET must not change anything, so only queries run over it
    // (and subscriptions, when the response is a stream).
    if let Ok(document) = async_graphql::parser::parse_query(&request.query) {
        let is_query = |op: &async_graphql::parser::types::OperationDefinition| {
            use async_graphql::parser::types::OperationType;
            op.ty == OperationType::Query
                || (framing.is_some() && op.ty == OperationType::Subscription)
        };
        let allowed = match &request.operation_name {
            Some(name) => document
                .operations
                .iter()
                .find(|(n, _)| n.map(|n| n.as_str()) == Some(name.as_str()))
                .is_none_or(|(_, op)| is_query(&op.node)),
            None => document.operations.iter().all(|(_, op)| is_query(&op.node)),
        };
        if !allowed {
            let mut response = request_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "BAD_REQUEST",
                "only queries may be sent with GET; use POST for mutations, and WebSocket or an event stream for subscriptions",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
            return response;
        }
    }
    if let Some(framing) = framing {
        return streams::serve(&server, &parts, request, framing).await;
    }
    execute(&server, &parts, BatchRequest::Single(request)).await
}

/// The parameters of a GET request, named as GraphQL over HTTP names them.
#[derive(serde::Deserialize)]
struct GetParams {
    /// Absent when `extensions` names a persisted document.
    #[serde(default)]
    query: String,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

fn get_request(uri: &axum::http::Uri) -> Result<async_graphql::Request, String> {
    let axum::extract::Query(params) = axum::extract::Query::<GetParams>::try_from_uri(uri)
        .map_err(|e| format!("invalid query string: {e}"))?;
    let mut request = async_graphql::Request::new(params.query);
    request.operation_name = params.operation_name.filter(|n| !n.is_empty());
    if let Some(variables) = params.variables.filter(|v| !v.is_empty()) {
        let value: serde_json::Value = serde_json::from_str(&variables)
            .map_err(|e| format!("`variables` is not JSON: {e}"))?;
        request.variables = async_graphql::Variables::from_json(value);
    }
    if let Some(extensions) = params.extensions.filter(|v| !v.is_empty()) {
        request.extensions = serde_json::from_str(&extensions)
            .map_err(|e| format!("`extensions` is not a JSON object: {e}"))?;
    }
    Ok(request)
}

async fn execute(
    server: &Server,
    parts: &axum::http::request::Parts,
    batch: BatchRequest,
) -> Response {
    if let BatchRequest::Batch(requests) = &batch
        && requests.len() > server.limits.max_batch_size
    {
        return request_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            &format!(
                "a batch may hold at most {} operations",
                server.limits.max_batch_size
            ),
        );
    }
    let forged = match &batch {
        BatchRequest::Single(r) => forged_upload(r),
        BatchRequest::Batch(rs) => rs.iter().any(forged_upload),
    };
    if forged {
        return forged_upload_refused();
    }
    let info = request_info_of(parts);
    let Ok(_permit) = Arc::clone(&server.inflight).try_acquire_owned() else {
        let mut response = request_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "the server is serving as many requests as it may; retry shortly",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let now = std::time::Instant::now();
    if let Some(refused) = address_refusal(server, &info, now) {
        return refused;
    }
    let request_id = info.request_id.clone();
    let credential = bearer_from_headers(&parts.headers);
    let gateway = server.gateway.clone();
    let state = server.state.clone();
    let scope = BatchScope::default();
    let batching = Batching::Scoped(scope.clone());
    // Operations that never execute (refused, timed out) are recorded here; the
    // gateway records the rest.
    let started = std::time::Instant::now();
    let operation_name = match &batch {
        BatchRequest::Single(r) => r.operation_name.clone(),
        BatchRequest::Batch(_) => None,
    };
    let caller = Arc::new(std::sync::OnceLock::<Caller>::new());
    let known_caller = Arc::clone(&caller);
    let work = REQUEST_ID.scope(request_id.clone(), async move {
        let (context, admitted) =
            admit(server, &state, credential.as_deref(), info, batching, now).await;
        if let Some(known) = caller_of(&context) {
            let _ = known_caller.set(known);
        }
        admitted?;
        let batch = match batch {
            BatchRequest::Single(r) => BatchRequest::Single(r.data(Arc::clone(&context))),
            BatchRequest::Batch(rs) => BatchRequest::Batch(
                rs.into_iter()
                    .map(|r| r.data(Arc::clone(&context)))
                    .collect(),
            ),
        };
        Ok::<_, Refusal>(scope.run(gateway.execute_batch(batch)).await)
    });
    // The whole request (not a transaction inside it) is bounded; a dropped transaction
    // is rolled back and its connection discarded by the pool.
    let response = match tokio::time::timeout(server.limits.request_timeout(), work).await {
        Ok(Ok(response)) => response,
        Ok(Err(refused)) => {
            unexecuted(
                server,
                &caller,
                operation_name,
                CallStatus::Refused,
                started,
                &request_id,
            );
            return refusal_response(refused);
        }
        Err(_) => {
            tracing::warn!(request_id = %request_id, "request timed out");
            unexecuted(
                server,
                &caller,
                operation_name,
                CallStatus::Timeout,
                started,
                &request_id,
            );
            return request_error(
                StatusCode::GATEWAY_TIMEOUT,
                "TIMEOUT",
                "the request took too long and was stopped",
            );
        }
    };
    respond(response, wants_graphql_response_json(&parts.headers))
}

/// Authenticates the caller and holds them to their rates and their organization's
/// quota. The context is returned (refused) as soon as the caller is known.
async fn admit(
    server: &Server,
    state: &AppState,
    credential: Option<&str>,
    info: RequestInfo,
    batching: Batching,
    now: std::time::Instant,
) -> (Arc<RequestContext>, Result<(), Refusal>) {
    let context = Arc::new(authenticate(state, credential, info, batching).await);
    let admitted = match &context.auth {
        Auth::Authenticated { actor, .. } => {
            let (bucket, key, what) = match actor.api_key_id {
                Some(key) => (&server.rates.api_key, key, "API key"),
                None => (&server.rates.user, actor.user_id, "user"),
            };
            match (bucket.take(&key.to_string(), now), actor.quota) {
                (Err(wait), _) => Err(Refusal::RateLimited(what, wait)),
                (Ok(()), Some(quota)) => state
                    .quota
                    .admit(actor.organization_id, quota)
                    .map_err(Refusal::Quota),
                (Ok(()), None) => Ok(()),
            }
        }
        _ => Ok(()),
    };
    (context, admitted)
}

/// Who a request's context says is calling, once authenticated.
fn caller_of(context: &RequestContext) -> Option<Caller> {
    match &context.auth {
        Auth::Authenticated { actor, .. } => Some(Caller {
            organization_id: Some(actor.organization_id),
            user_id: Some(actor.user_id),
            api_key_id: actor.api_key_id,
        }),
        _ => None,
    }
}

/// The response refusing an operation before execution.
fn refusal_response(refused: Refusal) -> Response {
    match refused {
        Refusal::Quota(refused) => request_error(
            StatusCode::TOO_MANY_REQUESTS,
            refused.code(),
            &refused.public_message(),
        ),
        Refusal::RateLimited(what, wait) => rate_limited(what, wait),
    }
}

/// Records an operation that did not run to its end.
fn unexecuted(
    server: &Server,
    caller: &std::sync::OnceLock<Caller>,
    operation_name: Option<String>,
    status: CallStatus,
    started: std::time::Instant,
    request_id: &str,
) {
    server.state.record_operation(ApiCall::ended(
        caller.get().copied().unwrap_or_default(),
        operation_name.as_deref(),
        OperationKind::Unknown,
        status,
        1,
        started.elapsed(),
        request_id,
    ));
}

/// Serialises a response. With `application/graphql-response+json`, a request that
/// failed before execution (no `data`) is a 400, as GraphQL over HTTP specifies.
fn respond(response: BatchResponse, graphql_response_json: bool) -> Response {
    let failed_before_execution = match &response {
        BatchResponse::Single(r) => r.data == async_graphql::Value::Null && !r.errors.is_empty(),
        BatchResponse::Batch(_) => false,
    };
    let status = if graphql_response_json && failed_before_execution {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let content_type = if graphql_response_json {
        GRAPHQL_RESPONSE_JSON
    } else {
        "application/json"
    };
    match serde_json::to_vec(&response) {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, content_type)],
            Body::from(body),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "serialising a response failed");
            request_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                "internal server error",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_send_without_delay() {
        use axum::serve::Listener as _;
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = tcp.local_addr().expect("an address");
        let mut listener = without_delay(tcp);
        let (client, (accepted, _)) = tokio::join!(TcpStream::connect(addr), listener.accept());
        assert!(client.is_ok());
        assert_eq!(accepted.nodelay().ok(), Some(true));
    }

    fn guard(max_delimiters: usize) -> PartGuard {
        PartGuard {
            delimiter: b"--xyz".to_vec(),
            tail: Vec::new(),
            delimiters: 0,
            max_delimiters,
            bytes: 0,
            max_bytes: 1000,
            cutoff: Arc::default(),
        }
    }

    #[test]
    fn multipart_delimiters_are_counted_across_chunks() {
        let body = b"--xyz\r\na\r\n--xyz\r\nb\r\n--xyz--\r\n";
        for split in 0..body.len() {
            let mut g = guard(3);
            let (a, b) = body.split_at(split);
            assert!(g.check(a).is_ok() && g.check(b).is_ok(), "split at {split}");
            assert_eq!(g.delimiters, 3, "split at {split}");
        }
        let mut g = guard(2);
        assert_eq!(g.check(body), Err(Cutoff::TooManyParts));
        let mut g = guard(10);
        assert_eq!(g.check(&[b'a'; 1001]), Err(Cutoff::TooLarge));
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=\"abc\"").as_deref(),
            Some("abc")
        );
        assert_eq!(multipart_boundary("multipart/form-data"), None);
    }

    #[test]
    fn forged_file_marks_are_found() {
        let mut request = async_graphql::Request::new("{ a }");
        assert!(!forged_upload(&request));
        request.variables = async_graphql::Variables::from_json(
            serde_json::json!({ "input": { "file": "#__graphql_file__:0" } }),
        );
        assert!(forged_upload(&request), "no file 0 in a JSON request");
        request.uploads.push(async_graphql::UploadValue {
            filename: "a.txt".into(),
            content_type: None,
            content: tempfile::tempfile().expect("temp file"),
        });
        assert!(!forged_upload(&request));
    }
}
