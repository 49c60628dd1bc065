//! API usage: one row per GraphQL operation served (who, what, how long, how it ended).
//!
//! Requests hand their row to an in-memory queue and go on; one task per process
//! writes the queue in batches (a multi-row INSERT, or one SQLite transaction), at most
//! a few times a second, so recording never puts a write on the request path. A batch
//! that cannot be written is kept and tried again; the queue is bounded only by
//! `MAX_PENDING`, far above any burst.

pub mod queries;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use diesel::prelude::*;
use tokio::sync::{Mutex, mpsc, watch};

use crate::db::schema::api_usage;
use crate::db::{Id, Pool, Timestamp};
use crate::db_enum;

db_enum! {
    /// The kind of a GraphQL operation.
    pub enum OperationKind {
        Query => "query",
        Mutation => "mutation",
        Subscription => "subscription",
        /// The document did not parse, or named no operation it holds.
        Unknown => "unknown",
    }
}

db_enum! {
    /// How an operation ended.
    pub enum CallStatus {
        /// No errors.
        Ok => "ok",
        /// Data with errors.
        Partial => "partial",
        /// Errors and no data.
        Error => "error",
        /// Refused before execution (the API quota).
        Refused => "refused",
        /// Stopped at the request timeout.
        Timeout => "timeout",
    }
}

/// One operation served.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_usage)]
pub struct ApiCall {
    pub id: Id,
    pub organization_id: Option<Id>,
    pub user_id: Option<Id>,
    pub api_key_id: Option<Id>,
    pub operation_name: Option<String>,
    pub operation_type: OperationKind,
    pub status: CallStatus,
    pub errors_count: i32,
    pub duration_us: i64,
    pub usage_day: String,
    pub request_id: Option<String>,
    pub created_at: Timestamp,
}

/// Who made a call, as authentication established.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller {
    pub organization_id: Option<Id>,
    pub user_id: Option<Id>,
    pub api_key_id: Option<Id>,
}

impl ApiCall {
    /// A call that ended now after `elapsed`.
    pub fn ended(
        caller: Caller,
        name: Option<&str>,
        kind: OperationKind,
        status: CallStatus,
        errors: usize,
        elapsed: Duration,
        request_id: &str,
    ) -> ApiCall {
        let now = Timestamp::now();
        ApiCall {
            id: Id::new(),
            organization_id: caller.organization_id,
            user_id: caller.user_id,
            api_key_id: caller.api_key_id,
            // Names can come straight from the client: only a GraphQL name is kept.
            operation_name: name.filter(|n| is_name(n)).map(str::to_string),
            operation_type: kind,
            status,
            errors_count: i32::try_from(errors).unwrap_or(i32::MAX),
            duration_us: i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX),
            usage_day: now.0.format("%Y-%m-%d").to_string(),
            request_id: (!request_id.is_empty() && request_id != "-")
                .then(|| request_id.chars().take(100).collect()),
            created_at: now,
        }
    }
}

/// A GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`) that fits the column.
fn is_name(name: &str) -> bool {
    name.len() <= 255
        && name.starts_with(|c: char| c == '_' || c.is_ascii_alphabetic())
        && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Most rows held in memory awaiting their write; beyond it new rows are dropped (and
/// counted) rather than letting a database outage exhaust memory.
const MAX_PENDING: usize = 1_000_000;
/// Most rows per write.
const BATCH: usize = 1_000;
/// How long the writer gathers rows before a write that is not full.
const GATHER: Duration = Duration::from_millis(250);

/// This process's API usage queue.
#[derive(Clone)]
pub struct ApiUsage {
    queue: mpsc::UnboundedSender<ApiCall>,
    receiver: Arc<Mutex<mpsc::UnboundedReceiver<ApiCall>>>,
    pending: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
}

impl Default for ApiUsage {
    fn default() -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        ApiUsage {
            queue,
            receiver: Arc::new(Mutex::new(receiver)),
            pending: Arc::default(),
            dropped: Arc::default(),
        }
    }
}

impl ApiUsage {
    /// Queues `call` for writing; never waits.
    pub fn record(&self, call: ApiCall) {
        if self.pending.fetch_add(1, Ordering::Relaxed) >= MAX_PENDING {
            self.pending.fetch_sub(1, Ordering::Relaxed);
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "API usage queue is full; dropping rows");
            }
            return;
        }
        if self.queue.send(call).is_err() {
            self.pending.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Writes queued rows in batches until `stop` fires, then writes what is left.
    pub fn spawn(
        &self,
        pool: Pool,
        mut stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let usage = self.clone();
        tokio::spawn(async move {
            let mut receiver = usage.receiver.lock().await;
            // Grows with the traffic, not reserved up front: a thousand rows' room is
            // 168 KB an idle process would hold for nothing.
            let mut batch: Vec<ApiCall> = Vec::new();
            loop {
                let stopping = tokio::select! {
                    received = receiver.recv_many(&mut batch, BATCH) => received == 0,
                    // Sent, or the sender is gone: either way, time to stop.
                    _ = stop.changed() => true,
                };
                if !stopping && batch.len() < BATCH {
                    // Gathers a little more so a trickle of requests is one write, not many.
                    tokio::select! {
                        _ = tokio::time::sleep(GATHER) => {}
                        _ = stop.changed() => {}
                    }
                }
                while batch.len() < BATCH
                    && let Ok(call) = receiver.try_recv()
                {
                    batch.push(call);
                }
                usage.write(&pool, &mut batch, &mut stop).await;
                if stopping || *stop.borrow() {
                    while let Ok(call) = receiver.try_recv() {
                        batch.push(call);
                        if batch.len() == BATCH {
                            usage.write(&pool, &mut batch, &mut stop).await;
                        }
                    }
                    usage.write(&pool, &mut batch, &mut stop).await;
                    return;
                }
            }
        })
    }

    /// Writes `batch`, retrying every second while it fails (once more after `stop`).
    async fn write(&self, pool: &Pool, batch: &mut Vec<ApiCall>, stop: &mut watch::Receiver<bool>) {
        if batch.is_empty() {
            return;
        }
        loop {
            let error = match queries::insert(pool, batch).await {
                Ok(()) => {
                    self.pending.fetch_sub(batch.len(), Ordering::Relaxed);
                    batch.clear();
                    return;
                }
                Err(error) => error,
            };
            // One row the database refuses must not hold back the others: row by row,
            // the refused ones are dropped. If none goes in, the database is away.
            let before = batch.len();
            let mut refused = Vec::new();
            for call in batch.drain(..) {
                if let Err(e) = queries::insert(pool, std::slice::from_ref(&call)).await {
                    refused.push((call, e));
                }
            }
            let written = before - refused.len();
            self.pending.fetch_sub(written, Ordering::Relaxed);
            if written > 0 || *stop.borrow() || stop.has_changed().is_err() {
                for (call, e) in &refused {
                    tracing::error!(error = %e, id = %call.id, "dropping an API usage row the database refuses");
                }
                self.pending.fetch_sub(refused.len(), Ordering::Relaxed);
                return;
            }
            batch.extend(refused.into_iter().map(|(call, _)| call));
            tracing::warn!(%error, rows = batch.len(), "could not write API usage; retrying");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
