//! The monthly API request quota of organizations.
//!
//! Counting must not put a write on every request (nor make all of an organization's
//! requests queue on its row), so each process counts in memory and adds its counts to
//! `api_quota_used` about once a second. A request is refused once the count stored at
//! its authentication plus this process's unflushed count reaches `api_quota_limit`;
//! with several processes the limit can be passed by what they have not flushed yet.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::Organization;
use crate::auth::sessions::SessionCache;
use crate::db::schema::organizations;
use crate::db::{Id, Pool, Timestamp};
use crate::dispatch;
use crate::error::AppError;

/// The start of the month `at` is in (UTC).
pub fn period_start(at: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(at)
}

/// When the quota of the month `at` is in resets.
pub fn period_end(at: DateTime<Utc>) -> DateTime<Utc> {
    let (year, month) = if at.month() == 12 {
        (at.year() + 1, 1)
    } else {
        (at.year(), at.month() + 1)
    };
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .unwrap_or(at)
}

/// An organization's quota as of its authentication.
#[derive(Debug, Clone, Copy)]
pub struct QuotaState {
    pub used: i32,
    pub limit: i32,
}

impl QuotaState {
    pub fn of(organization: &Organization, now: DateTime<Utc>) -> QuotaState {
        let current = organization
            .api_quota_period_start
            .is_some_and(|start| start.0 >= period_start(now));
        QuotaState {
            used: if current {
                organization.api_quota_used
            } else {
                0
            },
            limit: organization.api_quota_limit,
        }
    }
}

/// This process's unflushed request counts.
#[derive(Clone, Default)]
pub struct ApiQuota {
    pending: Arc<Mutex<HashMap<Id, i64>>>,
}

impl ApiQuota {
    /// Counts one request of `org`, or refuses it (QUOTA_EXCEEDED with the reset time)
    /// when the month's quota is used up.
    pub fn admit(&self, org: Id, state: QuotaState) -> Result<(), AppError> {
        let Ok(mut pending) = self.pending.lock() else {
            return Ok(());
        };
        let count = pending.entry(org).or_insert(0);
        if i64::from(state.used) + *count >= i64::from(state.limit) {
            let reset = period_end(Utc::now());
            return Err(AppError::quota(
                "apiRequestsPerMonth",
                Some(reset),
                format!(
                    "the organization's API quota of {} requests this month (apiRequestsPerMonth) is used up; it resets at {}",
                    state.limit,
                    reset.to_rfc3339()
                ),
            ));
        }
        *count += 1;
        Ok(())
    }

    /// Adds the unflushed counts to the stored ones, starting a new count when the
    /// stored one is of an earlier month. Cached sessions of the organizations written
    /// are forgotten: the count they carry no longer adds up with what is unflushed.
    pub async fn flush(&self, pool: &Pool, sessions: &SessionCache) {
        let batch: Vec<(Id, i64)> = match self.pending.lock() {
            Ok(mut pending) => pending.drain().filter(|(_, n)| *n > 0).collect(),
            Err(_) => return,
        };
        if batch.is_empty() {
            return;
        }
        let period = Timestamp(period_start(Utc::now()));
        let mut pooled = match pool.get().await {
            Ok(pooled) => pooled,
            Err(error) => {
                tracing::warn!(%error, "could not record API usage; keeping the counts");
                self.restore(batch);
                return;
            }
        };
        let mut failed = Vec::new();
        for (org, n) in batch {
            let added = i32::try_from(n).unwrap_or(i32::MAX);
            let result = dispatch!(&mut pooled.conn(), |c| {
                diesel::update(
                organizations::table.find(org)
            )
            .set((
                organizations::api_quota_used.eq(diesel::dsl::sql::<diesel::sql_types::Integer>(
                    "CASE WHEN api_quota_period_start IS NOT NULL AND api_quota_period_start >= "
                )
                .bind::<crate::db::sql_types::PortableTimestamp, _>(period)
                .sql(" THEN api_quota_used + ")
                .bind::<diesel::sql_types::Integer, _>(added)
                .sql(" ELSE ")
                .bind::<diesel::sql_types::Integer, _>(added)
                .sql(" END")),
                organizations::api_quota_period_start.eq(period),
            ))
            .execute(c)
            .await
            });
            match result {
                Ok(_) => sessions.forget_organization(org),
                Err(error) => {
                    tracing::warn!(%error, %org, "could not record API usage");
                    failed.push((org, n));
                }
            }
        }
        self.restore(failed);
    }

    fn restore(&self, batch: Vec<(Id, i64)>) {
        if let Ok(mut pending) = self.pending.lock() {
            for (org, n) in batch {
                *pending.entry(org).or_insert(0) += n;
            }
        }
    }

    /// Flushes about once a second until `stop` fires, and once more then.
    pub async fn run(
        self,
        pool: Pool,
        sessions: SessionCache,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => self.flush(&pool, &sessions).await,
                _ = stop.changed() => {
                    self.flush(&pool, &sessions).await;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_calendar_months() {
        let at = Utc.with_ymd_and_hms(2026, 12, 15, 10, 0, 0).unwrap();
        assert_eq!(period_start(at).to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(period_end(at).to_rfc3339(), "2027-01-01T00:00:00+00:00");
    }
}
