//! Sends the outbox's deliveries: claims due ones, posts each signed to its endpoint,
//! stores the attempt, and schedules a retry (exponential backoff with jitter) or gives
//! up after the configured number of attempts. Any number of processes may run it on
//! one database: a claim is a short hold on the row, so each attempt is made once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::{Notify, watch};

use super::queries::{self, AttemptRecord};
use super::{DeliveryStatus, PING, Webhook, WebhookAttempt, WebhookConfig, WebhookDelivery};
use crate::db::{Id, Pool, Timestamp};
use crate::error::AppResult;
use crate::events::EventBus;
use crate::transaction;

/// Bumped whenever a transaction writes deliveries, so the dispatcher (which hears of
/// commits through the event bus) looks at the outbox only when there may be work.
static WRITTEN: AtomicU64 = AtomicU64::new(0);

pub fn note_written() {
    WRITTEN.fetch_add(1, Ordering::Relaxed);
}

/// Error text kept for an attempt: enough to diagnose, bounded in size.
const MAX_ERROR_CHARS: usize = 500;

/// This process's webhook sender.
#[derive(Clone)]
pub struct Webhooks {
    inner: Arc<Inner>,
}

struct Inner {
    config: WebhookConfig,
    client: reqwest::Client,
    /// Names this process's holds on deliveries.
    worker: String,
    wake: Notify,
    /// Attempts stored by this process: succeeded, to be retried, given up.
    outcomes: [std::sync::atomic::AtomicU64; 3],
}

/// How an endpoint answered one attempt.
struct Answer {
    status_code: Option<i32>,
    error: Option<String>,
    duration_ms: i64,
}

impl Answer {
    fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

impl Webhooks {
    pub fn new(config: WebhookConfig) -> anyhow::Result<Webhooks> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout())
            .connect_timeout(config.timeout())
            // A redirect could lead anywhere, including inward: endpoints must answer.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve target names itself, past the internal-address guard.
            .no_proxy()
            .user_agent(concat!("gateway-webhooks/", env!("CARGO_PKG_VERSION")));
        if let Some(resolver) = super::guard::resolver(config.webhook_allow_private_targets) {
            builder = builder.dns_resolver(resolver);
        }
        Ok(Webhooks {
            inner: Arc::new(Inner {
                client: builder.build()?,
                config,
                worker: format!("webhooks-{}", uuid::Uuid::new_v4().simple()),
                wake: Notify::new(),
                outcomes: Default::default(),
            }),
        })
    }

    /// Attempts this process made and stored, by outcome.
    pub fn attempt_outcomes(&self) -> [(&'static str, u64); 3] {
        let n = |i: usize| self.inner.outcomes[i].load(std::sync::atomic::Ordering::Relaxed);
        [("succeeded", n(0)), ("retrying", n(1)), ("failed", n(2))]
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.inner.config
    }

    pub fn worker(&self) -> &str {
        &self.inner.worker
    }

    /// Deliveries were written: look at the outbox now rather than at the next poll.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// How long a claim holds a delivery: one attempt's timeout, with room to store it.
    pub fn hold(&self) -> Duration {
        self.inner.config.timeout() + Duration::from_secs(30)
    }

    /// Posts `delivery` to `webhook` once.
    async fn post(&self, webhook: &Webhook, delivery: &WebhookDelivery, attempt: i32) -> Answer {
        let started = Instant::now();
        let answer = |status_code, error| Answer {
            status_code,
            error,
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        };
        let url = match super::guard::parse(&webhook.url) {
            Ok(url) => url,
            Err(e) => return answer(None, Some(e.to_string())),
        };
        // IP literals never reach the resolver: check them (and names, early) here.
        if let Err(e) =
            super::guard::check(&url, self.inner.config.webhook_allow_private_targets).await
        {
            return answer(None, Some(e.to_string()));
        }
        let body = delivery.body();
        let timestamp = Timestamp::now().0.timestamp();
        let sent = self
            .inner
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("x-webhook-id", delivery.id.to_string())
            .header("x-webhook-event", &delivery.event)
            .header("x-webhook-attempt", attempt.to_string())
            .header("x-webhook-timestamp", timestamp.to_string())
            .header(
                "x-webhook-signature",
                super::signature(&webhook.secret, timestamp, &body),
            )
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                let code = Some(i32::from(status.as_u16()));
                if status.is_success() {
                    answer(code, None)
                } else {
                    let text = error_excerpt(response).await;
                    let error = if text.trim().is_empty() {
                        format!("HTTP {}", status.as_u16())
                    } else {
                        format!("HTTP {}: {}", status.as_u16(), text.trim())
                    };
                    answer(code, Some(error))
                }
            }
            Err(e) => {
                let reason = if e.is_timeout() {
                    format!(
                        "timed out after {} ms",
                        self.inner.config.webhook_timeout_ms
                    )
                } else {
                    error_chain(&e)
                };
                answer(None, Some(reason))
            }
        }
    }

    /// Makes the next attempt at a delivery this process holds, and stores it. Returns
    /// the delivery as stored, or `None` when the hold was lost meanwhile. No database
    /// connection is held while the endpoint is waited for.
    pub async fn attempt(
        &self,
        pool: &Pool,
        delivery: &WebhookDelivery,
    ) -> AppResult<Option<WebhookDelivery>> {
        let number = delivery.attempts + 1;
        let webhook = {
            let mut pooled = pool.get().await?;
            queries::find_any(&mut pooled.conn(), delivery.webhook_id).await?
        };
        let answer = match &webhook {
            Some(webhook) if webhook.is_active => self.post(webhook, delivery, number).await,
            _ => Answer {
                status_code: None,
                error: Some("the webhook is disabled".into()),
                duration_ms: 0,
            },
        };
        let now = Timestamp::now();
        let give_up = !answer.succeeded()
            && (number >= self.inner.config.webhook_max_attempts
                || delivery.event == PING
                || webhook.as_ref().is_none_or(|w| !w.is_active));
        let (status, next_attempt_at) = if answer.succeeded() {
            (DeliveryStatus::Succeeded, None)
        } else if give_up {
            (DeliveryStatus::Failed, None)
        } else {
            let wait =
                chrono::Duration::from_std(self.inner.config.backoff(number)).unwrap_or_default();
            (DeliveryStatus::Pending, Some(Timestamp(now.0 + wait)))
        };
        let record = AttemptRecord {
            delivery,
            worker: &self.inner.worker,
            attempt: WebhookAttempt {
                id: Id::new(),
                organization_id: delivery.organization_id,
                delivery_id: delivery.id,
                attempt: number,
                status_code: answer.status_code,
                duration_ms: answer.duration_ms,
                error: answer
                    .error
                    .map(|e| e.chars().take(MAX_ERROR_CHARS).collect()),
                created_at: now,
            },
            status,
            next_attempt_at,
            now,
        };
        let mut pooled = pool.get().await?;
        let conn = &mut pooled.conn();
        let stored = transaction!(conn, |tx| -> AppResult<bool> {
            Ok(queries::record_attempt(tx, &record).await?)
        })?;
        if !stored {
            tracing::warn!(delivery = %delivery.id, "lost the hold on a webhook delivery");
            return Ok(None);
        }
        let outcome = match status {
            DeliveryStatus::Succeeded => 0,
            DeliveryStatus::Pending => 1,
            DeliveryStatus::Failed => 2,
        };
        self.inner.outcomes[outcome].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if status == DeliveryStatus::Failed {
            tracing::warn!(delivery = %delivery.id, event = %delivery.event, attempts = number, "webhook delivery given up");
        }
        Ok(
            queries::deliveries_by_ids(conn, delivery.organization_id, &[delivery.id])
                .await?
                .into_iter()
                .next(),
        )
    }

    /// Claims due deliveries and attempts them, up to the configured concurrency.
    /// Returns how many were claimed.
    pub async fn run_due(&self, pool: &Pool) -> AppResult<usize> {
        let limit = self.inner.config.webhook_concurrency.max(1);
        let claimed = {
            let mut pooled = pool.get().await?;
            let mut conn = pooled.conn();
            let now = Timestamp::now();
            let until =
                Timestamp(now.0 + chrono::Duration::from_std(self.hold()).unwrap_or_default());
            let worker = self.inner.worker.clone();
            transaction!(&mut conn, |tx| -> AppResult<Vec<WebhookDelivery>> {
                Ok(queries::claim_due(tx, &worker, now, until, limit as i64).await?)
            })?
        };
        let count = claimed.len();
        futures_util::stream::iter(claimed)
            .for_each_concurrent(limit, |delivery| async move {
                if let Err(e) = self.attempt(pool, &delivery).await {
                    tracing::error!(delivery = %delivery.id, error = %e, "webhook attempt could not be stored");
                }
            })
            .await;
        Ok(count)
    }

    /// Runs the dispatcher until `stop`: on every poll, and whenever a committed
    /// change may have written deliveries.
    pub fn spawn(
        &self,
        pool: Pool,
        bus: EventBus,
        mut stop: watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if self.inner.config.webhook_concurrency == 0 {
            return None;
        }
        let this = self.clone();
        let poll = Duration::from_millis(this.inner.config.webhook_poll_ms);
        // Commits are published on the bus: wake when one may have written deliveries.
        let waker = self.clone();
        let mut events = bus.subscribe();
        let mut waker_stop = stop.clone();
        tokio::spawn(async move {
            let mut seen = WRITTEN.load(Ordering::Relaxed);
            loop {
                tokio::select! {
                    event = events.recv() => {
                        if let Err(tokio::sync::broadcast::error::RecvError::Closed) = event {
                            return;
                        }
                        let now = WRITTEN.load(Ordering::Relaxed);
                        if now != seen {
                            seen = now;
                            waker.wake();
                        }
                    }
                    _ = waker_stop.changed() => return,
                }
            }
        });
        Some(tokio::spawn(async move {
            loop {
                let busy = match this.run_due(&pool).await {
                    Ok(claimed) => claimed >= this.inner.config.webhook_concurrency,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the webhook outbox failed");
                        false
                    }
                };
                if *stop.borrow() {
                    return;
                }
                if busy {
                    continue;
                }
                tokio::select! {
                    _ = this.inner.wake.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                    _ = stop.changed() => return,
                }
            }
        }))
    }
}

/// The start of an error answer's body: at most 1 KiB is read, whatever the endpoint
/// sends, and 200 characters kept.
async fn error_excerpt(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < 1024 {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(1024);
    String::from_utf8_lossy(&bytes).chars().take(200).collect()
}

/// An error with its causes, e.g. "error sending request: connection refused".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}
