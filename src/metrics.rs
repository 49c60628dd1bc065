//! What this process is doing, for operators: gauges of what is open right now
//! (WebSocket connections, subscriptions), counters and latency histograms of the
//! operations served, and the Prometheus text rendering of all of it at `/metrics`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::api_usage::{ApiCall, CallStatus, OperationKind};
use crate::db::Pool;
use crate::state::AppState;

/// A count of things held open; each [`Held`] counts once until dropped, so whatever
/// ends a connection or a subscription (a close, an error, a vanished client, a
/// shutdown) gives its count back.
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<AtomicUsize>);

impl Gauge {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// Counts one more until the returned guard is dropped.
    pub fn hold(&self) -> Held {
        self.0.fetch_add(1, Ordering::Relaxed);
        Held(Arc::clone(&self.0))
    }

    /// Like [`Gauge::hold`], unless `max` are held already.
    pub fn try_hold(&self, max: usize) -> Option<Held> {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Held(Arc::clone(&self.0)))
    }
}

/// One count of a [`Gauge`], given back on drop.
#[derive(Debug)]
pub struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What is open in this process.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Open GraphQL WebSocket connections.
    pub websockets: Gauge,
    /// Running subscriptions, over every transport.
    pub subscriptions: Gauge,
}

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Distinct operation names labelled; the rest count as `__other`, so clients that
/// invent names cannot grow the series without bound.
const MAX_OPERATION_NAMES: usize = 200;

/// A latency histogram with fixed buckets.
#[derive(Debug, Default)]
struct Histogram {
    /// Per bucket (and one past the last for +Inf), not cumulative.
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(BUCKETS.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

const KINDS: [OperationKind; 4] = [
    OperationKind::Query,
    OperationKind::Mutation,
    OperationKind::Subscription,
    OperationKind::Unknown,
];

/// Counters of this process, shared by every request and worker.
#[derive(Clone)]
pub struct Metrics(Arc<Counters>);

struct Counters {
    /// Operations by type, name and outcome.
    operations: Mutex<HashMap<(OperationKind, String, CallStatus), u64>>,
    names: Mutex<HashSet<String>>,
    /// Operation latency by type (indexed as [`KINDS`]).
    durations: [Histogram; 4],
    /// GraphQL errors sent, by `extensions.code`.
    errors: Mutex<BTreeMap<String, u64>>,
    /// HTTP responses by status.
    responses: Mutex<BTreeMap<u16, u64>>,
    /// The connection pools reported, by name.
    pools: Mutex<Vec<(&'static str, Pool)>>,
    /// Parsed-document cache lookups: found, not found.
    document_cache: [AtomicU64; 2],
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics(Arc::new(Counters {
            operations: Mutex::default(),
            names: Mutex::default(),
            durations: Default::default(),
            errors: Mutex::default(),
            responses: Mutex::default(),
            pools: Mutex::default(),
            document_cache: Default::default(),
        }))
    }
}

/// A poisoned lock still holds valid data for the locks that use this (counts, kept
/// answers): a panic elsewhere must not stop metrics or the event bus.
pub(crate) fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Metrics {
    /// Counts an operation that ended (its API usage row).
    pub fn operation(&self, call: &ApiCall) {
        let name = match call.operation_name.as_deref() {
            None => String::new(),
            Some(name) => {
                let mut names = locked(&self.0.names);
                if names.contains(name) {
                    name.to_string()
                } else if names.len() < MAX_OPERATION_NAMES {
                    names.insert(name.to_string());
                    name.to_string()
                } else {
                    "__other".to_string()
                }
            }
        };
        *locked(&self.0.operations)
            .entry((call.operation_type, name, call.status))
            .or_default() += 1;
        let index = KINDS
            .iter()
            .position(|&k| k == call.operation_type)
            .unwrap_or(KINDS.len() - 1);
        let elapsed = Duration::from_micros(u64::try_from(call.duration_us).unwrap_or(0));
        self.0.durations[index].observe(elapsed);
    }

    /// Counts an error sent to a client.
    pub fn error(&self, code: &str) {
        let mut errors = locked(&self.0.errors);
        match errors.get_mut(code) {
            Some(n) => *n += 1,
            None => {
                errors.insert(code.to_string(), 1);
            }
        }
    }

    /// Counts a lookup of the parsed-document cache.
    pub fn document_cache(&self, hit: bool) {
        self.0.document_cache[usize::from(!hit)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an HTTP response.
    pub fn response(&self, status: u16) {
        *locked(&self.0.responses).entry(status).or_default() += 1;
    }

    /// Reports `pool` as `name` from now on.
    pub fn watch_pool(&self, name: &'static str, pool: Pool) {
        let mut pools = locked(&self.0.pools);
        pools.retain(|(n, _)| *n != name);
        pools.push((name, pool));
    }

    /// Everything, in the Prometheus text format (version 0.0.4).
    pub async fn render(&self, state: &AppState) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let operations = {
            let mut rows: Vec<_> = locked(&self.0.operations)
                .iter()
                .map(|((kind, name, status), n)| (kind.as_str(), name.clone(), status.as_str(), *n))
                .collect();
            rows.sort();
            rows
        };
        family(
            &mut out,
            "gateway_operations_total",
            "counter",
            "GraphQL operations served, by type, operation name and outcome (ok, partial, error, refused, timeout).",
        );
        for (kind, name, status, n) in operations {
            sample(
                &mut out,
                "gateway_operations_total",
                &[("type", kind), ("operation", &name), ("outcome", status)],
                n,
            );
        }
        family(
            &mut out,
            "gateway_operation_duration_seconds",
            "histogram",
            "Time from receiving an operation to its response (a subscription: to its start), by type.",
        );
        for (kind, histogram) in KINDS.iter().zip(&self.0.durations) {
            let mut cumulative = 0;
            for (i, bound) in BUCKETS
                .iter()
                .map(|b| b.to_string())
                .chain(["+Inf".to_string()])
                .enumerate()
            {
                cumulative += histogram.counts[i].load(Ordering::Relaxed);
                sample(
                    &mut out,
                    "gateway_operation_duration_seconds_bucket",
                    &[("type", kind.as_str()), ("le", &bound)],
                    cumulative,
                );
            }
            let sum = histogram.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "gateway_operation_duration_seconds_sum{{type=\"{}\"}} {sum}",
                kind.as_str()
            );
            sample(
                &mut out,
                "gateway_operation_duration_seconds_count",
                &[("type", kind.as_str())],
                cumulative,
            );
        }
        family(
            &mut out,
            "gateway_errors_total",
            "counter",
            "GraphQL errors sent to clients, by extensions.code.",
        );
        for (code, n) in locked(&self.0.errors).clone() {
            sample(&mut out, "gateway_errors_total", &[("code", &code)], n);
        }
        family(
            &mut out,
            "gateway_document_cache_lookups_total",
            "counter",
            "Documents looked up in the parsed-document cache, by result (hit: not parsed again).",
        );
        for (result, n) in ["hit", "miss"].iter().zip(&self.0.document_cache) {
            sample(
                &mut out,
                "gateway_document_cache_lookups_total",
                &[("result", result)],
                n.load(Ordering::Relaxed),
            );
        }
        family(
            &mut out,
            "gateway_http_responses_total",
            "counter",
            "HTTP responses, by status.",
        );
        for (status, n) in locked(&self.0.responses).clone() {
            sample(
                &mut out,
                "gateway_http_responses_total",
                &[("status", &status.to_string())],
                n,
            );
        }
        // One reading per pool, so its in-use, idle and waiting figures agree.
        let pools: Vec<_> = locked(&self.0.pools)
            .iter()
            .map(|(name, pool)| (*name, pool.status()))
            .collect();
        family(
            &mut out,
            "gateway_db_pool_connections",
            "gauge",
            "Database connections of each pool, in use or idle.",
        );
        for (name, status) in &pools {
            sample(
                &mut out,
                "gateway_db_pool_connections",
                &[("pool", name), ("state", "in_use")],
                status.open.saturating_sub(status.idle) as u64,
            );
            sample(
                &mut out,
                "gateway_db_pool_connections",
                &[("pool", name), ("state", "idle")],
                status.idle as u64,
            );
        }
        family(
            &mut out,
            "gateway_db_pool_waiting",
            "gauge",
            "Callers waiting for a database connection, by pool.",
        );
        for (name, status) in &pools {
            sample(
                &mut out,
                "gateway_db_pool_waiting",
                &[("pool", name)],
                status.waiting as u64,
            );
        }
        family(
            &mut out,
            "gateway_db_pool_max_connections",
            "gauge",
            "The most connections each pool opens.",
        );
        for (name, status) in &pools {
            sample(
                &mut out,
                "gateway_db_pool_max_connections",
                &[("pool", name)],
                status.max as u64,
            );
        }
        family(
            &mut out,
            "gateway_websocket_connections",
            "gauge",
            "Open GraphQL WebSocket connections.",
        );
        sample(
            &mut out,
            "gateway_websocket_connections",
            &[],
            state.live.websockets.get() as u64,
        );
        family(
            &mut out,
            "gateway_subscriptions",
            "gauge",
            "Running subscriptions, over every transport.",
        );
        sample(
            &mut out,
            "gateway_subscriptions",
            &[],
            state.live.subscriptions.get() as u64,
        );
        let events = state.bus.committed_run_events();
        family(
            &mut out,
            "gateway_run_events_total",
            "counter",
            "Run events this process committed, by kind.",
        );
        for (kind, n) in &events {
            sample(&mut out, "gateway_run_events_total", &[("kind", kind)], *n);
        }
        family(
            &mut out,
            "gateway_run_steps_total",
            "counter",
            "Run steps this process finished, by outcome; its rate is steps per second.",
        );
        for (kind, outcome) in [("STEP_COMPLETED", "completed"), ("STEP_FAILED", "failed")] {
            let n = events
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or(0, |(_, n)| *n);
            sample(
                &mut out,
                "gateway_run_steps_total",
                &[("outcome", outcome)],
                n,
            );
        }
        family(
            &mut out,
            "gateway_webhook_deliveries_total",
            "counter",
            "Webhook delivery attempts this process made, by outcome (succeeded, retrying, failed: given up).",
        );
        for (outcome, n) in state.webhooks.attempt_outcomes() {
            sample(
                &mut out,
                "gateway_webhook_deliveries_total",
                &[("outcome", outcome)],
                n,
            );
        }
        // Read last: the one part that can fail, and that every process reports alike.
        family(
            &mut out,
            "gateway_runs",
            "gauge",
            "Runs of every organization, by status (read from the database at each scrape).",
        );
        match runs_by_status(&state.pool).await {
            Ok(counts) => {
                for status in crate::runs::RunStatus::ALL {
                    let n = counts
                        .iter()
                        .find(|(s, _)| s == status)
                        .map_or(0, |(_, n)| *n);
                    sample(
                        &mut out,
                        "gateway_runs",
                        &[("status", status.as_str())],
                        u64::try_from(n).unwrap_or(0),
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "metrics: counting runs failed"),
        }
        family(
            &mut out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory of this process.",
        );
        if let Some(bytes) = resident_bytes() {
            sample(&mut out, "process_resident_memory_bytes", &[], bytes);
        }
        out
    }
}

async fn runs_by_status(
    pool: &Pool,
) -> Result<Vec<(crate::runs::RunStatus, i64)>, crate::db::DbError> {
    let mut pooled = pool.get().await?;
    Ok(crate::runs::queries::count_by_status(&mut pooled.conn()).await?)
}

/// Resident set size from `/proc/self/statm` (Linux).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            for c in value.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_counts_are_given_back_on_drop() {
        let gauge = Gauge::default();
        let first = gauge.hold();
        let second = gauge.try_hold(2).expect("below the cap");
        assert_eq!(gauge.get(), 2);
        assert!(gauge.try_hold(2).is_none(), "at the cap");
        drop(first);
        assert_eq!(gauge.get(), 1);
        let third = gauge.try_hold(2);
        assert!(third.is_some());
        drop((second, third));
        assert_eq!(gauge.get(), 0);
    }

    #[test]
    fn label_values_are_escaped_and_buckets_are_bounded() {
        let mut out = String::new();
        sample(&mut out, "m", &[("a", "x\"y\\z\nw")], 3);
        assert_eq!(out, "m{a=\"x\\\"y\\\\z\\nw\"} 3\n");
        let histogram = Histogram::default();
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(60));
        assert_eq!(histogram.counts[0].load(Ordering::Relaxed), 1);
        assert_eq!(histogram.counts[BUCKETS.len()].load(Ordering::Relaxed), 1);
        assert_eq!(histogram.sum_micros.load(Ordering::Relaxed), 60_003_000);
    }
}
