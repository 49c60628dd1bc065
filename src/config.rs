//! Typed configuration from flags and environment variables, validated at start-up.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Limits on what one request may ask of the server.
#[derive(Debug, Clone, Args)]
pub struct Limits {
    /// Deepest field nesting a query may have.
    #[arg(long, env = "MAX_QUERY_DEPTH", default_value_t = 15)]
    pub max_depth: usize,
    /// Largest query complexity: one per selected field, times the page size asked
    /// for on connections (`first`/`last`, 20 when omitted), so nested pages multiply.
    #[arg(long, env = "MAX_QUERY_COMPLEXITY", default_value_t = 10_000)]
    pub max_complexity: usize,
    /// Most lexical tokens in a document, counted before it is parsed.
    #[arg(long, env = "MAX_TOKENS", default_value_t = 15_000)]
    pub max_tokens: usize,
    /// Most aliased fields in a document.
    #[arg(long, env = "MAX_ALIASES", default_value_t = 50)]
    pub max_aliases: usize,
    /// Most fields an operation selects at its root.
    #[arg(long, env = "MAX_ROOT_FIELDS", default_value_t = 20)]
    pub max_root_fields: usize,
    /// Deepest nesting a document may have: brackets (selections, lists, input
    /// objects) before parsing, selections and fragments after.
    #[arg(long, env = "MAX_RECURSIVE_DEPTH", default_value_t = 32)]
    pub max_recursive_depth: usize,
    /// Most directives per field.
    #[arg(long, env = "MAX_DIRECTIVES", default_value_t = 8)]
    pub max_directives: usize,
    /// Largest request body in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest document (an uploaded file, or text given to `createDocument`) in bytes.
    /// A multipart request may carry up to 10 such files.
    #[arg(long, env = "DOCUMENT_MAX_BYTES", default_value_t = 1024 * 1024)]
    pub document_max_bytes: usize,
    /// Most operations in one batched request.
    #[arg(long, env = "MAX_BATCH_SIZE", default_value_t = 10)]
    pub max_batch_size: usize,
    /// Seconds a request may take before it is answered 504.
    #[arg(long, env = "REQUEST_TIMEOUT_SECONDS", default_value_t = 30)]
    pub request_timeout_seconds: u64,
    /// Requests a minute from one client address (0: no limit).
    #[arg(long, env = "RATE_LIMIT_IP_PER_MINUTE", default_value_t = 6_000)]
    pub rate_limit_ip_per_minute: u32,
    /// Requests a minute from one user signed in with a token (0: no limit).
    #[arg(long, env = "RATE_LIMIT_USER_PER_MINUTE", default_value_t = 3_000)]
    pub rate_limit_user_per_minute: u32,
    /// Requests a minute with one API key (0: no limit).
    #[arg(long, env = "RATE_LIMIT_API_KEY_PER_MINUTE", default_value_t = 6_000)]
    pub rate_limit_api_key_per_minute: u32,
    /// GraphQL requests this process serves at once; more answer 503 at once.
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS", default_value_t = 512)]
    pub max_concurrent_requests: usize,
    /// Queries this process executes at once; more wait their turn, within the request
    /// timeout. A query holds its rows and its answer in memory while it runs, and on
    /// a few cores more at once do not finish sooner, so this bounds memory under load
    /// (mutations and subscriptions, which may wait on agents, are not held to it).
    /// 0: four per core.
    #[arg(long, env = "MAX_CONCURRENT_QUERIES", default_value_t = 0)]
    pub max_concurrent_queries: usize,
    /// Whether the schema can be introspected (turn off in production if wanted).
    #[arg(long, env = "INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,
    /// Subscriptions one WebSocket connection may hold at once.
    #[arg(long, env = "MAX_SUBSCRIPTIONS_PER_CONNECTION", default_value_t = 100)]
    pub max_subscriptions_per_connection: usize,
    /// How often the server pings a WebSocket client (a WebSocket ping frame, and the
    /// protocol's own: `ping` for graphql-transport-ws, `ka` for legacy graphql-ws).
    #[arg(long, env = "WS_KEEPALIVE_SECONDS", default_value_t = 15)]
    pub ws_keepalive_seconds: u64,
    /// A WebSocket client heard from (any frame, pongs included) less recently than
    /// this is gone: its connection is closed and its subscriptions end.
    #[arg(long, env = "WS_IDLE_TIMEOUT_SECONDS", default_value_t = 60)]
    pub ws_idle_timeout_seconds: u64,
    /// Documents kept for automatic persisted queries (Apollo APQ); 0 turns APQ off.
    #[arg(long, env = "APQ_CACHE_ENTRIES", default_value_t = 10_000)]
    pub apq_cache_entries: usize,
    /// Parsed documents kept by their text, so a document sent again is not parsed
    /// again (at most 10,000, within about 24 MB; the least recently used dropped
    /// first; documents holding a string value are not kept); 0 turns the cache off.
    #[arg(long, env = "DOCUMENT_CACHE_ENTRIES", default_value_t = 1_000)]
    pub document_cache_entries: usize,
    /// A manifest of trusted documents (Apollo's persisted query manifest, or a JSON
    /// object of SHA-256 to document): when set, only those documents run, except for
    /// organization admins.
    #[arg(long, env = "TRUSTED_DOCUMENTS")]
    pub trusted_documents: Option<PathBuf>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 15,
            max_complexity: 10_000,
            max_tokens: 15_000,
            max_aliases: 50,
            max_root_fields: 20,
            max_recursive_depth: 32,
            max_directives: 8,
            max_body_bytes: 2 * 1024 * 1024,
            document_max_bytes: 1024 * 1024,
            max_batch_size: 10,
            request_timeout_seconds: 30,
            rate_limit_ip_per_minute: 6_000,
            rate_limit_user_per_minute: 3_000,
            rate_limit_api_key_per_minute: 6_000,
            max_concurrent_requests: 512,
            max_concurrent_queries: 0,
            introspection: true,
            max_subscriptions_per_connection: 100,
            ws_keepalive_seconds: 15,
            ws_idle_timeout_seconds: 60,
            apq_cache_entries: 10_000,
            document_cache_entries: 1_000,
            trusted_documents: None,
        }
    }
}

/// The largest `DOCUMENT_MAX_BYTES`: documents are read into memory and indexed whole.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024 * 1024;

impl Limits {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }

    /// Queries executed at once: `max_concurrent_queries`, or four per core.
    pub fn concurrent_queries(&self) -> usize {
        match self.max_concurrent_queries {
            0 => std::thread::available_parallelism().map_or(4, |cores| cores.get() * 4),
            n => n,
        }
    }
}

/// What the server tells its operators.
#[derive(Debug, Clone, Args)]
pub struct Observability {
    /// Operations taking longer than this many milliseconds are logged (warn) with
    /// their document; 0 logs every operation.
    #[arg(long, env = "SLOW_OPERATION_MS", default_value_t = 1000)]
    pub slow_operation_ms: u64,
    /// When set, `/metrics` answers only requests with `Authorization: Bearer <it>`.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
}

impl Default for Observability {
    fn default() -> Self {
        Observability {
            slow_operation_ms: 1000,
            metrics_token: None,
        }
    }
}

impl Observability {
    pub fn slow_operation(&self) -> Duration {
        Duration::from_millis(self.slow_operation_ms)
    }
}

#[derive(Clone, Args)]
pub struct Config {
    /// `postgres://...` for PostgreSQL; otherwise a SQLite file (default: `<data-dir>/gateway.db`).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Where the embedded database and the development token secret live.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Address to serve on.
    #[arg(
        long,
        env = "BIND",
        visible_alias = "listen",
        default_value = "127.0.0.1:8000"
    )]
    pub bind: SocketAddr,
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// Secret for signing session tokens. Without it, one is generated and kept in
    /// `<data-dir>/jwt-secret` (development only: every instance must share one).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Key sealing `encrypted` organization settings (AES-256-GCM): 64 hex digits or
    /// base64 of 32 bytes. Without it, one is generated and kept in
    /// `<data-dir>/settings-key` (development only: every instance must share one, and
    /// secrets sealed under a lost key cannot be opened).
    #[arg(long, env = "SETTINGS_ENCRYPTION_KEY", hide_env_values = true)]
    pub settings_encryption_key: Option<String>,
    /// Lifetime of session tokens in seconds.
    #[arg(long, env = "TOKEN_TTL_SECONDS", default_value_t = 86_400)]
    pub token_ttl_seconds: i64,
    /// Database connections in the pool (default: 10 for PostgreSQL, 4 for SQLite).
    #[arg(long, env = "DB_POOL_SIZE")]
    pub db_pool_size: Option<usize>,
    /// Longest a single SQL statement may run on PostgreSQL, in seconds.
    #[arg(long, env = "DB_STATEMENT_TIMEOUT_SECONDS", default_value_t = 15)]
    pub db_statement_timeout_seconds: u64,
    #[command(flatten)]
    pub limits: Limits,
    #[command(flatten)]
    pub observability: Observability,
    #[command(flatten)]
    pub engine: crate::engine::EngineConfig,
    #[command(flatten)]
    pub webhooks: crate::webhooks::WebhookConfig,
}

impl Config {
    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.clone(),
            _ => self
                .data_dir
                .join("gateway.db")
                .to_string_lossy()
                .into_owned(),
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.token_ttl_seconds > 0,
            "TOKEN_TTL_SECONDS must be positive"
        );
        anyhow::ensure!(
            self.limits.max_body_bytes >= 1024,
            "MAX_BODY_BYTES must be at least 1024"
        );
        anyhow::ensure!(
            (1..=MAX_DOCUMENT_BYTES).contains(&self.limits.document_max_bytes),
            "DOCUMENT_MAX_BYTES must be 1-{MAX_DOCUMENT_BYTES}"
        );
        anyhow::ensure!(
            self.limits.max_concurrent_requests >= 1,
            "MAX_CONCURRENT_REQUESTS must be at least 1"
        );
        anyhow::ensure!(
            self.limits.max_batch_size >= 1,
            "MAX_BATCH_SIZE must be at least 1"
        );
        anyhow::ensure!(
            self.db_pool_size != Some(0),
            "DB_POOL_SIZE must be at least 1"
        );
        self.engine.validate()?;
        self.webhooks.validate()?;
        if let Some(key) = &self.settings_encryption_key {
            anyhow::ensure!(
                crate::settings::SettingsCipher::parse_key(key).is_some(),
                "SETTINGS_ENCRYPTION_KEY must be 64 hex digits or base64 of 32 bytes"
            );
        }
        if let Some(secret) = &self.jwt_secret {
            anyhow::ensure!(
                secret.len() >= 32,
                "JWT_SECRET must be at least 32 characters"
            );
        }
        Ok(())
    }
}

/// A URL with any password replaced by `****`.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:****@{host}"),
        None => url.to_string(),
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "database={} bind={} data_dir={} jwt_secret={} token_ttl={}s pool={} statement_timeout={}s \
             depth<={} complexity<={} body<={}B documents<={}B batch<={} timeout={}s introspection={} \
             workers={} lease={}s backend={:?}",
            mask_url(&self.database_url()),
            self.bind,
            self.data_dir.display(),
            if self.jwt_secret.is_some() {
                "****"
            } else {
                "<generated>"
            },
            self.token_ttl_seconds,
            self.db_pool_size
                .map_or("default".to_string(), |n| n.to_string()),
            self.db_statement_timeout_seconds,
            self.limits.max_depth,
            self.limits.max_complexity,
            self.limits.max_body_bytes,
            self.limits.document_max_bytes,
            self.limits.max_batch_size,
            self.limits.request_timeout_seconds,
            self.limits.introspection,
            self.engine.run_workers,
            self.engine.run_lease_seconds,
            self.engine.agent_backend,
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            super::mask_url("postgres://app:s3cret@db:5432/x"),
            "postgres://app:****@db:5432/x"
        );
        assert_eq!(super::mask_url("./data/gateway.db"), "./data/gateway.db");
    }
}
