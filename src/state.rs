//! Process-wide state shared by every request.

use crate::auth::token::TokenKeys;
use crate::db::{Pool, StatementCounter};
use crate::engine::RunControl;
use crate::events::EventBus;

#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub keys: TokenKeys,
    pub bus: EventBus,
    /// Users and organizations of recently seen session tokens.
    pub sessions: crate::auth::sessions::SessionCache,
    /// Reaches this process's run workers.
    pub runs: RunControl,
    /// Unflushed API request counts of this process.
    pub quota: crate::organizations::quota::ApiQuota,
    /// Failed-login slowdown of this process.
    pub logins: crate::auth::throttle::LoginThrottle,
    /// The time recurring work is planned by.
    pub clock: crate::clock::Clock,
    /// This process's webhook sender.
    pub webhooks: crate::webhooks::dispatcher::Webhooks,
    /// Seals and opens secret organization settings.
    pub settings: crate::settings::SettingsCipher,
    /// This process's API usage rows awaiting their write.
    pub api_usage: crate::api_usage::ApiUsage,
    /// SQL statements run by this process.
    pub statements: StatementCounter,
    /// WebSocket connections and subscriptions open in this process.
    pub live: crate::metrics::Live,
    /// Counters and latencies of what this process served, for `/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// Set when the process begins to stop.
    pub draining: Draining,
    /// The agent backend that answers conversations (runs' workers have their own).
    pub agents: std::sync::Arc<dyn crate::engine::backend::AgentBackend>,
}

impl AppState {
    /// An operation ended (or was refused): counted, and queued as an API usage row.
    pub fn record_operation(&self, call: crate::api_usage::ApiCall) {
        self.metrics.operation(&call);
        self.api_usage.record(call);
    }

    /// What sending a conversation message needs.
    pub fn replier(&self) -> crate::conversations::service::Replier {
        crate::conversations::service::Replier {
            pool: self.pool.clone(),
            bus: self.bus.clone(),
            backend: self.agents.clone(),
            settings: self.settings.clone(),
        }
    }
}

/// Set once the process begins to stop, so long-lived streams (WebSocket connections,
/// SSE and multipart subscriptions) end themselves with a proper goodbye.
#[derive(Clone)]
pub struct Draining(tokio::sync::watch::Sender<bool>);

impl Default for Draining {
    fn default() -> Self {
        Draining(tokio::sync::watch::Sender::new(false))
    }
}

impl Draining {
    pub fn begin(&self) {
        self.0.send_replace(true);
    }

    /// Resolves once draining has begun.
    pub fn begun(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut receiver = self.0.subscribe();
        async move {
            let _ = receiver.wait_for(|draining| *draining).await;
        }
    }
}
