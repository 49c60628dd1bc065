//! Webhooks: an organization's outside endpoints, told about its events through a
//! durable outbox of signed JSON deliveries.

pub mod dispatcher;
pub mod guard;
pub mod queries;
pub mod service;

use std::time::Duration;

use clap::Args;
use diesel::QueryResult;
use diesel::prelude::*;
use hmac::{KeyInit, Mac};

use crate::db::schema::{webhook_attempts, webhook_deliveries, webhooks};
use crate::db::{Conn, Id, Json, Timestamp};
use crate::db_enum;
use crate::runs::{Run, RunEventKind};
use crate::scheduling::{Schedule, ScheduleProposal};

db_enum! {
    /// What a webhook can be told about. On the wire (the `event` of a delivery and
    /// the `X-Webhook-Event` header) each is named as shown in its description.
    pub enum WebhookEvent {
        /// `run.started`: a worker began executing a run.
        RunStarted => "run.started",
        /// `run.completed`: a run's last step committed.
        RunCompleted => "run.completed",
        /// `run.failed`: a run failed (a step's error, or its budget ran out).
        RunFailed => "run.failed",
        /// `run.cancelled`: a run was cancelled.
        RunCancelled => "run.cancelled",
        /// `budget.warning`: a started run's estimate brings its team near its monthly budget.
        BudgetWarning => "budget.warning",
        /// `schedule.created`: an employee was scheduled on a work event.
        ScheduleCreated => "schedule.created",
        /// `proposal.created`: the auto-scheduler proposed an assignment.
        ProposalCreated => "proposal.created",
    }
}

/// The event name of a `testWebhook` delivery.
pub const PING: &str = "ping";

db_enum! {
    /// Where a delivery stands.
    pub enum DeliveryStatus {
        /// Waiting for its first or next attempt.
        Pending => "PENDING",
        /// The endpoint answered 2xx.
        Succeeded => "SUCCEEDED",
        /// Given up: every attempt failed (or the webhook was disabled meanwhile).
        Failed => "FAILED",
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhooks, treat_none_as_default_value = false)]
pub struct Webhook {
    pub id: Id,
    pub organization_id: Id,
    pub created_by: Option<Id>,
    pub url: String,
    pub description: Option<String>,
    pub events: Json,
    pub secret: String,
    pub is_active: bool,
    pub last_triggered_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Webhook {
    /// The events it is subscribed to (unknown names, which the API never stores, are skipped).
    pub fn event_list(&self) -> Vec<WebhookEvent> {
        self.events
            .0
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().and_then(WebhookEvent::parse))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn wants(&self, event: WebhookEvent) -> bool {
        self.is_active && self.event_list().contains(&event)
    }

    /// The secret's last four characters, so a client can tell secrets apart.
    pub fn masked_secret(&self) -> String {
        let tail: String = self
            .secret
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("****{tail}")
    }

    /// What the audit trail keeps (never the secret).
    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url,
            "description": self.description,
            "events": self.events.0,
            "is_active": self.is_active,
            "secret": self.masked_secret(),
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries, treat_none_as_default_value = false)]
pub struct WebhookDelivery {
    pub id: Id,
    pub organization_id: Id,
    pub webhook_id: Id,
    pub event: String,
    pub payload: Json,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<Timestamp>,
    pub locked_by: Option<String>,
    pub locked_until: Option<Timestamp>,
    pub response_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

impl WebhookDelivery {
    /// A delivery of `event` with `data` to `webhook`, due now.
    pub fn new(webhook: &Webhook, event: &str, data: serde_json::Value, now: Timestamp) -> Self {
        WebhookDelivery {
            id: Id::new(),
            organization_id: webhook.organization_id,
            webhook_id: webhook.id,
            event: event.to_string(),
            payload: Json(data),
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: Some(now),
            locked_by: None,
            locked_until: None,
            response_status: None,
            last_error: None,
            created_at: now,
            updated_at: now,
            completed_at: None,
        }
    }

    /// The request body: the same bytes on every attempt, so receivers can
    /// de-duplicate by `id`.
    pub fn body(&self) -> String {
        serde_json::json!({
            "id": self.id,
            "event": self.event,
            "organizationId": self.organization_id,
            "webhookId": self.webhook_id,
            "createdAt": time(self.created_at),
            "data": self.payload.0,
        })
        .to_string()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_attempts, treat_none_as_default_value = false)]
pub struct WebhookAttempt {
    pub id: Id,
    pub organization_id: Id,
    pub delivery_id: Id,
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub created_at: Timestamp,
}

/// Writes, in the caller's transaction, one delivery per `(event, data)` for each of
/// the organization's active webhooks that wants the event. Returns how many.
pub async fn enqueue(
    conn: &mut Conn<'_>,
    org: Id,
    items: &[(WebhookEvent, serde_json::Value)],
    now: Timestamp,
) -> QueryResult<usize> {
    if items.is_empty() {
        return Ok(0);
    }
    let hooks = queries::active(conn, org).await?;
    let rows: Vec<WebhookDelivery> = items
        .iter()
        .flat_map(|(event, data)| {
            hooks
                .iter()
                .filter(|hook| hook.wants(*event))
                .map(|hook| WebhookDelivery::new(hook, event.as_str(), data.clone(), now))
        })
        .collect();
    let written = queries::insert_deliveries(conn, &rows).await?;
    if written > 0 {
        dispatcher::note_written();
    }
    Ok(written)
}

/// The webhook event a run event is announced as, if any.
pub fn run_event(kind: RunEventKind) -> Option<WebhookEvent> {
    match kind {
        RunEventKind::Started => Some(WebhookEvent::RunStarted),
        RunEventKind::Completed => Some(WebhookEvent::RunCompleted),
        RunEventKind::Failed => Some(WebhookEvent::RunFailed),
        RunEventKind::Cancelled => Some(WebhookEvent::RunCancelled),
        RunEventKind::BudgetWarning => Some(WebhookEvent::BudgetWarning),
        _ => None,
    }
}

/// The `data` of a run's deliveries: the run as it stands, and the event's message.
pub fn run_data(run: &Run, message: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "run": {
            "id": run.id,
            "kind": run.kind,
            "status": run.status,
            "teamId": run.team_id,
            "projectId": run.project_id,
            "templateId": run.template_id,
            "triggeredBy": run.triggered_by,
            "totalSteps": run.total_steps,
            "completedSteps": run.completed_steps,
            "tokensUsed": run.tokens_used,
            "cost": run.cost.to_string_scaled(6),
            "result": run.result,
            "errorMessage": run.error_message,
            "startedAt": run.started_at.map(time),
            "completedAt": run.completed_at.map(time),
            "durationMs": run.duration_ms,
        },
        "message": message,
    })
}

fn time(t: Timestamp) -> String {
    t.0.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The `data` of a `schedule.created` delivery.
pub fn schedule_data(schedule: &Schedule) -> serde_json::Value {
    serde_json::json!({
        "schedule": {
            "id": schedule.id,
            "workEventId": schedule.work_event_id,
            "userId": schedule.user_id,
            "scheduledAt": time(schedule.scheduled_at),
            "endsAt": time(schedule.ends_at),
            "status": schedule.status,
            "createdBy": schedule.created_by,
        }
    })
}

/// The `data` of a `proposal.created` delivery.
pub fn proposal_data(proposal: &ScheduleProposal) -> serde_json::Value {
    serde_json::json!({
        "proposal": {
            "id": proposal.id,
            "runId": proposal.run_id,
            "workEventId": proposal.work_event_id,
            "userId": proposal.user_id,
            "scheduledAt": time(proposal.scheduled_at),
            "endsAt": time(proposal.ends_at),
            "confidence": proposal.confidence,
            "reason": proposal.reason,
        }
    })
}

/// `v1=` and the hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// How this process delivers webhooks.
#[derive(Debug, Clone, Args)]
pub struct WebhookConfig {
    /// Deliveries this process sends at once; 0 leaves delivery to other processes.
    #[arg(long, env = "WEBHOOK_CONCURRENCY", default_value_t = 8)]
    pub webhook_concurrency: usize,
    /// Longest wait for an endpoint's answer.
    #[arg(long, env = "WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,
    /// Attempts before a delivery is given up.
    #[arg(long, env = "WEBHOOK_MAX_ATTEMPTS", default_value_t = 10)]
    pub webhook_max_attempts: i32,
    /// Wait before the first retry; doubles per retry (with jitter) up to the maximum.
    #[arg(long, env = "WEBHOOK_RETRY_BASE_MS", default_value_t = 5_000)]
    pub webhook_retry_base_ms: u64,
    #[arg(long, env = "WEBHOOK_RETRY_MAX_MS", default_value_t = 3_600_000)]
    pub webhook_retry_max_ms: u64,
    /// How often the outbox is read for deliveries written by other processes or due
    /// for a retry.
    #[arg(long, env = "WEBHOOK_POLL_MS", default_value_t = 1_000)]
    pub webhook_poll_ms: u64,
    /// Allow targets on loopback, private, link-local and other internal addresses
    /// (refused by default: see the README).
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE_TARGETS", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private_targets: bool,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            webhook_concurrency: 8,
            webhook_timeout_ms: 10_000,
            webhook_max_attempts: 10,
            webhook_retry_base_ms: 5_000,
            webhook_retry_max_ms: 3_600_000,
            webhook_poll_ms: 1_000,
            webhook_allow_private_targets: false,
        }
    }
}

impl WebhookConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.webhook_max_attempts >= 1,
            "WEBHOOK_MAX_ATTEMPTS must be at least 1"
        );
        anyhow::ensure!(
            self.webhook_timeout_ms >= 100,
            "WEBHOOK_TIMEOUT_MS must be at least 100"
        );
        anyhow::ensure!(
            self.webhook_poll_ms >= 10,
            "WEBHOOK_POLL_MS must be at least 10"
        );
        anyhow::ensure!(
            self.webhook_retry_max_ms >= self.webhook_retry_base_ms,
            "WEBHOOK_RETRY_MAX_MS must be at least WEBHOOK_RETRY_BASE_MS"
        );
        Ok(())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.webhook_timeout_ms)
    }

    /// The wait after failed attempt number `attempt` (1-based): exponential, capped,
    /// and drawn from its upper half at random so that endpoints coming back up are
    /// not hit by every delivery at once.
    pub fn backoff(&self, attempt: i32) -> Duration {
        let exponent = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        let full = self
            .webhook_retry_base_ms
            .saturating_mul(1u64 << exponent)
            .min(self.webhook_retry_max_ms);
        let half = full / 2;
        let jitter = if half > 0 {
            rand::random_range(0..=half)
        } else {
            0
        };
        Duration::from_millis(full - half + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_and_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            signature("whsec_test", 1_700_000_000, r#"{"a":1}"#),
            "v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let config = WebhookConfig {
            webhook_retry_base_ms: 1000,
            webhook_retry_max_ms: 5000,
            ..WebhookConfig::default()
        };
        for _ in 0..50 {
            let first = config.backoff(1).as_millis();
            assert!((500..=1000).contains(&first), "{first}");
            let third = config.backoff(3).as_millis();
            assert!((2000..=4000).contains(&third), "{third}");
            let capped = config.backoff(20).as_millis();
            assert!((2500..=5000).contains(&capped), "{capped}");
        }
    }
}
